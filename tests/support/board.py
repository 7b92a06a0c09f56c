"""Board test kit: a seeded book, links and signed-in clients, a served board and a real browser.

A test module loads the fixtures with ``pytest_plugins = ["tests.support.board"]``.

- ``seed_book(chat)`` talks a small book into being through the chat (the real commands, on the
  fixed clock): team 销售一组 with admin 老板, manager 王经理, reps 张三 and 李四, customers at
  several stages with follow-ups, a win, a payment, a loss, an overdue and a stalled customer;
  team 销售二组 with its own rep 赵六 and customers (for isolation, both ways).
- ``make_token`` / ``open_client``: a link as /看板 makes it, and a Flask test client that opened
  it (the session cookie set).
- ``served_board``: the app on a real loopback port in this process (the fixed clock, the test
  database), for the browser; ``browser``, ``desktop`` (1280 px) and ``phone`` (390 px) pages;
  ``shot(page, name)`` saves a full-page screenshot into ``test-artifacts/board/``.
"""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from bot.app import create_app
from bot.runtime import Runtime
from models.board_link import LINK, Claims, expiry, sign
from models.chat import Chat
from models.customer import Customer
from models.member import Member
from tests.support.harness import ChatHarness

SECRET = "board-test-secret-0123456789-abcdefghij"
TEAM = "销售一组"
OTHER_TEAM = "销售二组"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "board"
CHROMIUM = shutil.which("chromium")
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
LINK_IN_TEXT = re.compile(r"https?://\S+/board/open\?t=[A-Za-z0-9._-]+")


@dataclass
class Book:
    """What ``seed_book`` made: chat ids, member ids by name, customer names by owner."""

    chat_id: int
    other_chat_id: int
    members: dict[str, int] = field(default_factory=dict)  # "张三" → member id (销售一组)
    other_members: dict[str, int] = field(default_factory=dict)  # 销售二组
    owned: dict[str, list[str]] = field(default_factory=dict)  # owner name → customer names
    other_customers: list[str] = field(default_factory=list)


def seed_book(chat: ChatHarness) -> Book:
    """Seed both teams through the chat on the fixed clock (see the module docstring)."""
    chat.name = TEAM
    chat.send("/我的", as_="老板")
    for name in ("王经理", "张三", "李四"):
        chat.send("/我的", as_=name)
    chat.make_manager("王经理")
    clock = chat.clock
    start = clock.now
    clock.now = start.replace(day=2)  # early in the month: older activity, a stalled lead
    chat.send("/新客户 迟滞科技 @李四 3万 展会", as_="王经理")
    chat.send("/跟进 北方重工 初次拜访 下周一回访", as_="张三")
    chat.send("/跟进 南方电子 电话沟通", as_="张三")
    chat.send("/报价 南方电子 12万", as_="张三")
    clock.now = start.replace(day=16)
    chat.send("/跟进 东方物流 报价已发 明天回访", as_="李四")
    chat.send("/跟进 西部能源 需求调研", as_="李四")
    chat.send("/签约 西部能源 48万", as_="李四")
    chat.send("/回款 西部能源 20万 首付款", as_="李四")
    chat.send("/跟进 中部制造 演示", as_="张三")
    chat.send("/输单 中部制造 价格太高", as_="张三")
    clock.now = start.replace(day=25)
    chat.send("/跟进 北方重工 送样品 明天", as_="张三")  # due on the 26th: overdue on the 27th
    chat.send("/等级 北方重工 A", as_="张三")
    chat.send("/标签 北方重工 +重点", as_="张三")
    clock.now = start
    chat.send("/目标 @张三 50万", as_="王经理")
    other = ChatHarness(chat.runtime, clock, OTHER_TEAM)
    other.send("/跟进 远方贸易 初次联系 下周二", as_="赵六")
    other.send("/报价 远方贸易 9万", as_="赵六")
    other.send("/跟进 <script>alert(1)</script>公司 试探", as_="赵六")
    with chat.runtime.sessions() as session:
        chats = {c.name or c.external_id: c.id for c in session.scalars(select(Chat))}
        book = Book(chats[TEAM], chats[OTHER_TEAM])
        for member in session.scalars(select(Member)):
            target = book.members if member.chat_id == book.chat_id else book.other_members
            target[member.display] = member.id
        names = {v: k for k, v in book.members.items()}
        for customer in session.scalars(select(Customer).order_by(Customer.id)):
            if customer.chat_id == book.other_chat_id:
                book.other_customers.append(customer.name)
            elif customer.owner_id is not None:
                book.owned.setdefault(names[customer.owner_id], []).append(customer.name)
    return book


def enable_board(runtime: Runtime) -> None:
    """Switch the board on for this runtime's settings (a fixed test secret)."""
    runtime.settings.board.secret = SECRET


def make_token(
    runtime: Runtime,
    chat_id: int,
    member_id: int,
    at: datetime | None = None,
    hours: float | None = None,
    epoch: int | None = None,
) -> str:
    """A link token as /看板 makes it (the member's current epoch unless given)."""
    with runtime.sessions() as session:
        member = session.get(Member, member_id)
        assert member is not None
        current = member.board_epoch
    at = at or runtime.clock()
    ttl = runtime.settings.board.link_ttl_hours if hours is None else hours
    claims = Claims(chat_id, member_id, current if epoch is None else epoch, expiry(at, ttl))
    return sign(runtime.settings.board.secret, claims, LINK)


def link_path(token: str) -> str:
    """The path a link opens."""
    return f"/board/open?t={token}"


def link_in(reply: str) -> str:
    """The board link in a /看板 reply (fails when there is none)."""
    found = LINK_IN_TEXT.search(reply)
    assert found is not None, reply
    return found.group(0)


def open_client(app: Flask, runtime: Runtime, chat_id: int, member_id: int) -> FlaskClient:
    """A test client that opened a fresh link of ``member_id`` (the session cookie set)."""
    client = app.test_client()
    response = client.get(link_path(make_token(runtime, chat_id, member_id)))
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    return client


@pytest.fixture
def board_runtime(runtime: Runtime) -> Runtime:
    """The test runtime with the board switched on."""
    enable_board(runtime)
    return runtime


@pytest.fixture
def board_book(board_runtime: Runtime, chat: ChatHarness) -> Book:
    """Both teams seeded (see ``seed_book``)."""
    return seed_book(chat)


@pytest.fixture
def board_app(board_runtime: Runtime) -> Flask:
    """The web app on the test runtime, board on."""
    return create_app(board_runtime.settings, board_runtime)


# -- a served board and a real browser ------------------------------------------------------------
class ServedApp:
    """The app on a loopback port in a thread (werkzeug), sharing the test runtime and clock."""

    def __init__(self, app: Flask) -> None:
        from werkzeug.serving import make_server

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ServedApp:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)


@pytest.fixture
def served_board(board_app: Flask) -> Iterator[ServedApp]:
    """The board served on a real port (for the browser)."""
    with ServedApp(board_app) as served:
        yield served


def skip_without_browser() -> None:
    """Skip the calling test module, saying why, when Playwright or chromium is missing."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the environment
        pytest.skip(
            "playwright is not installed (pip install -e '.[test]')", allow_module_level=True
        )
    if CHROMIUM is None:  # pragma: no cover - depends on the environment
        pytest.skip(
            "chromium is not installed (apt-get install chromium; .ci/run does it)",
            allow_module_level=True,
        )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium through Playwright (as tests/test_sandbox_browser.py launches it)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # --no-sandbox: chromium's own sandbox cannot start as root in a container.
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def new_page(browser: Any, viewport: dict[str, int], mobile: bool = False) -> Any:
    """A page in a fresh context (its own cookies); console errors collected in ``.problems``."""
    context = browser.new_context(
        viewport=viewport,
        device_scale_factor=2 if mobile else 1,
        is_mobile=mobile,
        has_touch=mobile,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
    )
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.problems = problems
    return page


@pytest.fixture
def desktop(browser: Any) -> Iterator[Any]:
    """A 1280 px wide page."""
    page = new_page(browser, DESKTOP)
    yield page
    page.context.close()


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """A 390 px wide phone page (touch, 2x pixels)."""
    page = new_page(browser, PHONE, mobile=True)
    yield page
    page.context.close()


def shot(page: Any, name: str) -> Path:
    """Save a full-page screenshot as test-artifacts/board/<name>.png (CI keeps the folder)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def horizontal_overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than its viewport (0: no horizontal scrolling)."""
    return int(
        page.evaluate(
            "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
            " - document.documentElement.clientWidth"
        )
    )


def no_page_errors(page: Any) -> list[str]:
    """Console errors and CSP violations the page reported (expected: none)."""
    return list(page.problems)
