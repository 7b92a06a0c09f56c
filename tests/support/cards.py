"""Taps on cards in tests: a worker thread dispatching, a tap through ``Runtime.receive_action``.

``tap(chat, card, verb, target, …)`` builds the IncomingMessage an adapter builds from a verified
callback (kind ACTION on the console platform) and hands it to the runtime, while a thread
dispatches the inbox as another process would: the waiting side only sees the database.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import select

from bot.messages import (
    ACTION,
    ACTION_ARG,
    ACTION_CARD,
    ACTION_TARGET,
    ACTION_VERB,
    FORM_PREFIX,
    PRIVATE,
    IncomingMessage,
    OutgoingMessage,
)
from bot.runtime import Runtime
from models import Outbox
from tests.support.harness import ChatHarness


@contextmanager
def dispatching(runtime: Runtime) -> Iterator[None]:
    """A worker thread handling the inbox while the test waits (errors re-raised at the end)."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def work() -> None:
        while not stop.is_set():
            try:
                runtime.dispatch()
            except BaseException as exc:  # surfaced in the test's thread
                errors.append(exc)
                return
            stop.wait(0.01)

    worker = threading.Thread(target=work, name="test-dispatcher", daemon=True)
    worker.start()
    try:
        yield
    finally:
        stop.set()
        worker.join(10)
    if errors:
        raise errors[0]


def action(
    chat: ChatHarness,
    card: str,
    verb: str,
    target: object,
    arg: str = "",
    form: dict[str, str] | None = None,
    as_: str = "张三",
    tap_id: str = "",
    private: bool = False,
) -> IncomingMessage:
    """The tap as an adapter gives it: operator, callback id, button values and form values."""
    data = {ACTION_VERB: verb, ACTION_TARGET: str(target), ACTION_ARG: arg, ACTION_CARD: card}
    data |= {FORM_PREFIX + k: v for k, v in (form or {}).items()}
    return IncomingMessage(
        platform="console",
        chat_id=f"{as_}的私聊" if private else chat.name,
        message_id=tap_id or f"tap-{uuid.uuid4().hex}",
        sender_id=as_,
        sender_name=as_,
        text=f"[卡片] {verb}",
        chat_type=PRIVATE if private else "group",
        chat_name="" if private else chat.name,
        sent_at=chat.clock.now.isoformat(),
        platform_data=data,
        kind=ACTION,
    )


def tap(
    chat: ChatHarness,
    card: str,
    verb: str,
    target: object,
    arg: str = "",
    form: dict[str, str] | None = None,
    as_: str = "张三",
    tap_id: str = "",
    private: bool = False,
) -> list[OutgoingMessage] | None:
    """Tap a button (or submit its form) and return the answer the webhook would get."""
    message = action(chat, card, verb, target, arg, form, as_, tap_id, private)
    with dispatching(chat.runtime):
        return chat.runtime.receive_action(message, wait=10.0)


def sent_card(runtime: Runtime, job: str = "") -> str:
    """Deliver what is due, then the platform message id of the latest card (of ``job``) sent."""
    runtime.deliver()
    with runtime.sessions() as session:
        query = select(Outbox).where(Outbox.platform_message_id != "").order_by(Outbox.id.desc())
        if job:
            query = query.where(Outbox.job == job)
        rows = [r for r in session.scalars(query) if r.payload.get("card")]
    assert rows, f"no card sent (job {job!r})"
    return rows[0].platform_message_id
