"""Fitting a card into a platform's size limit, shared by the adapters that render cards.

A card too big for the platform keeps its title and every section, with fewer lines and table
rows per section ("还有 N 条…" says how many were left out): the number allowed per section
halves, from the longest section down, until the rendering fits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from bot.messages import Card

T = TypeVar("T")
Item = TypeVar("Item")


def take(items: list[Item], budget: int | None) -> tuple[list[Item], int]:
    """The first ``budget`` items (all when None) and how many were left out."""
    if budget is None or len(items) <= budget:
        return items, 0
    return items[:budget], len(items) - budget


def longest_section(card: Card | None) -> int:
    """The most lines or table rows any one section of ``card`` has (0 without a card)."""
    if card is None:
        return 0
    counts = [len(s.lines) for s in card.sections]
    counts += [len(s.table.rows) for s in card.sections if s.table]
    return max(counts, default=0)


def fit_card(
    card: Card | None,
    render: Callable[[int | None], T],
    size: Callable[[T], int],
    limit: int,
    floor: int = 0,
) -> tuple[T, bool]:
    """Render with a halving per-section budget until ``size`` is within ``limit``.

    ``render(budget)`` renders at most ``budget`` lines and rows per section (None: all of them).
    The budget never goes below ``floor``. Returns the last rendering and whether it fits; the
    caller decides what to do with one that does not (cut it, or say the content was left out).
    """
    budget: int | None = None
    longest = longest_section(card)
    while True:
        rendered = render(budget)
        if size(rendered) <= limit:
            return rendered, True
        if longest <= floor or (budget is not None and budget <= floor):
            return rendered, False
        budget = max(floor, (longest if budget is None else budget) // 2)
