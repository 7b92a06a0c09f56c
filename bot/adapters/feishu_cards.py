"""Feishu card JSON 2.0: neutral cards with buttons, forms and charts, and the taps that come back.

Rules from the card docs (see docs/feishu.md "Cards with buttons"): every card declares
``update_multi`` so it can be replaced in place; a ``form`` sits directly in ``body.elements``,
every input in it has a card-unique ``name`` and it is submitted by a button with
``form_action_type: "submit"``; a card is at most 30 KB and 200 components, with at most five
tables and five charts, and no table or chart inside a form.

A button's callback value is only ``{verb, target, arg}``. A button with a form shows as a
button that opens it (verb ACT_OPEN, ``arg`` = the button's action) unless its section has
``open_form`` set to that action: then the form is shown instead of the section's buttons, and
its submit button carries the button's own verb, target and arg. Form inputs are named
``f<section>_<kind>_<field>`` (kind t text, d date, s select), so the values read back need no
card: ``form_values`` turns them into ``{field: value}`` with dates as YYYY-MM-DD.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from bot.adapters.render import fit_card, take
from bot.messages import (
    ACT_OPEN,
    FIELD_DATE,
    FIELD_SELECT,
    Button,
    Card,
    CardSection,
    Chart,
    Field,
    Mention,
    escape_markdown,
    render_mentions,
)

CARD_LIMIT = 28_000  # bytes; Feishu allows 30 KB for a card
MAX_ELEMENTS = 200  # components per card
MAX_TABLES = 5
MAX_CHARTS = 5  # the chart component's recommended maximum per card
BUTTON_TEXT = 100  # characters of a button's text
INPUT_LIMIT = 1000  # characters an input accepts
BUTTON_TYPES = {"default": "default", "primary": "primary", "danger": "danger"}
_KIND_CODES = {FIELD_DATE: "d", FIELD_SELECT: "s"}  # anything else: "t" (text)
_FIELD_NAME = re.compile(r"f(\d+)_([tds])_([A-Za-z0-9_]{1,40})")
_DATE_VALUE = re.compile(r"(\d{4}-\d{2}-\d{2})(?: [+-]\d{4})?")
_NOT_COMPONENTS = {"plain_text", "lark_md"}  # text objects, not components


def md(text: str, mentions: list[Mention]) -> str:
    """Escaped markdown with card mentions (``<at id=…></at>``)."""
    return render_mentions(escape_markdown(text), mentions, lambda m: f"<at id={m.user_id}></at>")


def render_card(card: Card, mentions: list[Mention], intro: str = "") -> dict[str, Any]:
    """A neutral card as Feishu card JSON 2.0, cut to fit 30 KB and 200 components.

    Sections keep at least one line each; when that is not enough, fewer sections keep their
    buttons (an open form always stays); a card too big even so is its title and a notice.
    """
    with_buttons = sum(1 for s in card.sections if s.buttons)
    allowed: int | None = None
    while True:
        body, fits = fit_card(card, _renderer(card, mentions, intro, allowed), _size, CARD_LIMIT, 1)
        if fits:
            return body
        if with_buttons == 0 or allowed == 0:
            break
        allowed = with_buttons // 2 if allowed is None else allowed // 2
    return _card_body(Card(card.title, [], card.subtitle), mentions, "内容太长，已省略", None, None)


def _renderer(
    card: Card, mentions: list[Mention], intro: str, allowed: int | None
) -> Callable[[int | None], dict[str, Any]]:
    """``_card_body`` for fit_card: at most ``budget`` lines and rows per section."""
    return lambda budget: _card_body(card, mentions, intro, budget, allowed)


def _size(body: dict[str, Any]) -> int:
    """The card's size in bytes, or over the limit when it has too many components."""
    if count_components(body) > MAX_ELEMENTS:
        return CARD_LIMIT + 1
    return len(json.dumps(body, ensure_ascii=False).encode("utf-8"))


def count_components(node: Any) -> int:
    """How many components (dicts with a ``tag`` other than text objects) a card holds."""
    return sum(1 for d in _dicts(node) if d.get("tag") and d.get("tag") not in _NOT_COMPONENTS)


def _dicts(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _dicts(value)
    elif isinstance(node, list):
        for value in node:
            yield from _dicts(value)


def _card_body(
    card: Card,
    mentions: list[Mention],
    intro: str,
    budget: int | None,
    allowed: int | None,
) -> dict[str, Any]:
    """Build the card JSON; ``budget`` caps lines and rows per section, ``allowed`` the number
    of sections that keep their buttons (None: all)."""
    elements: list[dict[str, Any]] = []
    if intro:
        elements.append({"tag": "markdown", "content": md(intro, mentions)})
    tables = charts = 0
    buttons_left = allowed
    dropped = False
    for index, section in enumerate(card.sections):
        if section.heading:
            elements.append(
                {"tag": "markdown", "content": f"**{escape_markdown(section.heading)}**"}
            )
        lines, more = take(section.lines, budget)
        if lines:
            content = "\n".join(md(line, mentions) for line in lines)
            if more:
                content += f"\n还有 {more} 条…"
            elements.append({"tag": "markdown", "content": content})
        if section.table:
            rows, more = take(section.table.rows, budget)
            if tables < MAX_TABLES:
                tables += 1
                elements.append(_table(section.table.columns, rows))
            else:  # Feishu allows five tables per card: the rest as text
                text = [" | ".join(section.table.columns)] + [" | ".join(r) for r in rows]
                elements.append(
                    {"tag": "markdown", "content": "\n".join(md(t, mentions) for t in text)}
                )
            if more:
                elements.append({"tag": "markdown", "content": f"还有 {more} 行…"})
        if section.chart is not None:
            charts += 1
            elements.append(_chart(section.chart, charts <= MAX_CHARTS))
        if not section.buttons:
            continue
        form_button = _open_form_button(section)
        if form_button is not None:
            elements.append(_form(index, form_button))
            continue
        if buttons_left is not None:
            if buttons_left <= 0:
                dropped = True
                continue
            buttons_left -= 1
        elements.append(_button_row(section.buttons))
    if dropped:
        elements.append({"tag": "markdown", "content": "其余客户的按钮已省略，请用命令操作"})
    header: dict[str, Any] = {
        "title": {"tag": "plain_text", "content": card.title},
        "template": "blue",
    }
    if card.subtitle:
        header["subtitle"] = {"tag": "plain_text", "content": card.subtitle}
    return {
        "schema": "2.0",
        "config": {"update_multi": True, "width_mode": "fill"},
        "header": header,
        "body": {"elements": elements},
    }


def _table(columns: list[str], rows: list[list[str]]) -> dict[str, Any]:
    """A table component (plain text cells: nothing in them is markup)."""
    return {
        "tag": "table",
        "page_size": min(10, max(1, len(rows))),
        "columns": [
            {"name": f"c{i}", "display_name": name, "data_type": "text"}
            for i, name in enumerate(columns)
        ],
        "rows": [{f"c{i}": cell for i, cell in enumerate(row)} for row in rows],
    }


def _chart(chart: Chart, as_chart: bool) -> dict[str, Any]:
    """A chart component (VChart spec), or its text bars past the per-card maximum."""
    from bot.adapters import charts  # written alongside; imported when a card has a chart

    if as_chart:
        return {"tag": "chart", "chart_spec": charts.vchart_spec(chart)}
    lines = [escape_markdown(chart.title), *map(escape_markdown, charts.text_bars(chart))]
    return {"tag": "markdown", "content": "\n".join(lines)}


def _open_form_button(section: CardSection) -> Button | None:
    """The button whose form the section shows open (``open_form``), if any."""
    wanted = getattr(section, "open_form", "") or ""
    if not wanted:
        return None
    return next((b for b in section.buttons if b.action == wanted and b.form is not None), None)


def button_value(button: Button) -> dict[str, str]:
    """The callback value of a button: a form button opens its form (ACT_OPEN)."""
    if button.form is not None:
        return {"verb": ACT_OPEN, "target": button.target, "arg": button.action}
    return {"verb": button.action, "target": button.target, "arg": button.arg}


def _button(button: Button) -> dict[str, Any]:
    return {
        "tag": "button",
        "text": {"tag": "plain_text", "content": button.label[:BUTTON_TEXT]},
        "type": BUTTON_TYPES.get(button.style, "default"),
        "behaviors": [{"type": "callback", "value": button_value(button)}],
    }


def _button_row(buttons: list[Button]) -> dict[str, Any]:
    """The section's buttons side by side (wrapping on narrow screens)."""
    return {
        "tag": "column_set",
        "flex_mode": "flow",
        "horizontal_spacing": "small",
        "columns": [{"tag": "column", "width": "auto", "elements": [_button(b)]} for b in buttons],
    }


def field_name(section: int, field: Field) -> str:
    """The card-unique name of a form input (read back by ``form_values``)."""
    return f"f{section}_{_KIND_CODES.get(field.kind, 't')}_{field.name}"


def _plain(text: str) -> dict[str, str]:
    return {"tag": "plain_text", "content": text}


def _form(section: int, button: Button) -> dict[str, Any]:
    """The button's form, at the body root; its submit button carries the button's action."""
    assert button.form is not None
    elements: list[dict[str, Any]] = []
    for field in button.form.fields:
        name = field_name(section, field)
        placeholder = _plain((field.placeholder or field.label)[:100])
        if field.kind == FIELD_DATE:
            elements.append({"tag": "markdown", "content": escape_markdown(field.label)})
            picker: dict[str, Any] = {
                "tag": "date_picker",
                "name": name,
                "placeholder": placeholder,
                "required": field.required,
            }
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", field.default):
                picker["initial_date"] = field.default
            elements.append(picker)
        elif field.kind == FIELD_SELECT:
            elements.append({"tag": "markdown", "content": escape_markdown(field.label)})
            values: list[str] = []
            options = []
            for option in field.options:
                if option.value in values:  # values must be unique within a select
                    continue
                values.append(option.value)
                options.append({"text": _plain(option.label), "value": option.value})
            select: dict[str, Any] = {
                "tag": "select_static",
                "name": name,
                "placeholder": placeholder,
                "options": options,
                "required": field.required,
            }
            if field.default in values:
                select["initial_index"] = values.index(field.default) + 1
            elements.append(select)
        else:
            text_input: dict[str, Any] = {
                "tag": "input",
                "name": name,
                "label": _plain(field.label),
                "placeholder": placeholder,
                "max_length": INPUT_LIMIT,
                "required": field.required,
            }
            if field.default:
                text_input["default_value"] = field.default[:INPUT_LIMIT]
            elements.append(text_input)
    elements.append(
        {
            "tag": "button",
            "name": f"f{section}_submit",
            "text": _plain(button.form.submit[:BUTTON_TEXT]),
            "type": "primary_filled",
            "form_action_type": "submit",
            "behaviors": [
                {
                    "type": "callback",
                    "value": {"verb": button.action, "target": button.target, "arg": button.arg},
                }
            ],
        }
    )
    return {"tag": "form", "name": f"form_{section}", "elements": elements}


def form_values(form_value: Any) -> dict[str, str]:
    """Submitted form values by field name; dates as YYYY-MM-DD (other names are ignored).

    A date that does not look like the picker's ``2024-04-01 +0800`` is kept as sent, so the
    handler can refuse it with a reason instead of reading something else into it.
    """
    values: dict[str, str] = {}
    if not isinstance(form_value, dict):
        return values
    for name, raw in form_value.items():
        match = _FIELD_NAME.fullmatch(str(name))
        if match is None:
            continue
        kind, field = match.group(2), match.group(3)
        if isinstance(raw, list):
            value = ",".join(str(v) for v in raw)
        elif raw is None:
            value = ""
        else:
            value = str(raw)
        value = value.strip()[:INPUT_LIMIT]
        if kind == "d" and (date := _DATE_VALUE.fullmatch(value)):
            value = date.group(1)
        values[field] = value
    return values
