"""The board's door: signed, expiring, revocable links; a session per browser; each team its own.

Everything goes through the real app (Flask test client) on SQLite and PostgreSQL, links made by
/看板 in the chat harness or by the kit (tests/support/board.py) exactly as /看板 makes them.
"""

from __future__ import annotations

import gzip
import io
import os
import stat
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from bot.app import create_app
from bot.board.access import COOKIE, effective_role
from bot.config import ConfigError, Settings, load_settings
from bot.runtime import Runtime
from handlers.roles import role_of
from models.board_link import (
    LINK,
    SESSION,
    Claims,
    Refusal,
    TokenError,
    lifetime_words,
    read,
    sign,
    stored_secret,
)
from models.db import make_engine
from models.member import ROLE_MANAGER, ROLE_REP, Member
from tests.support.board import SECRET, Book, link_in, link_path, make_token, open_client
from tests.support.harness import ChatHarness, Clock

HEADERS = {
    "Content-Security-Policy": "default-src 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def _cookie(response) -> SimpleCookie:
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.getlist("Set-Cookie"):
        jar.load(header)
    return jar


def _path(url: str) -> str:
    return url[url.index("/board/") :]


def _text(response) -> str:
    return response.get_data(as_text=True)


def _has_security_headers(response) -> None:
    for name, start in HEADERS.items():
        assert response.headers.get(name, "").startswith(start), (name, response.headers)
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp


# -- links -------------------------------------------------------------------------------------
def test_a_link_from_the_chat_opens_a_session_and_a_clean_url(
    board_book: Book, board_app, chat: ChatHarness
):
    reply = chat.reply("/看板", as_="王经理")
    assert "7 天内有效" in reply and "全团队" in reply and "/看板 重置" in reply
    url = link_in(reply)
    assert url.startswith("http://127.0.0.1:8000/board/open?t=")
    client = board_app.test_client()
    response = client.get(_path(url))
    assert response.status_code == 303
    assert response.headers["Location"] == f"/board/t/{board_book.chat_id}/"
    _has_security_headers(response)
    morsel = _cookie(response)[COOKIE]
    assert morsel["httponly"] and morsel["samesite"] == "Lax" and morsel["path"] == "/board"
    assert not morsel["secure"]  # plain http on loopback
    assert int(morsel["max-age"]) == 7 * 24 * 3600
    assert morsel.value != url.split("t=")[1]  # the cookie is signed for another purpose
    page = client.get(f"/board/t/{board_book.chat_id}/")
    assert page.status_code == 200
    _has_security_headers(page)
    assert page.headers["Cache-Control"] == "no-store"


def test_a_reps_link_says_it_shows_their_own_customers(board_book: Book, chat: ChatHarness):
    reply = chat.reply("/看板", as_="张三")
    assert "只显示你负责的客户" in reply


def test_links_start_with_the_public_url(board_book: Book, chat: ChatHarness, board_runtime):
    board_runtime.settings.server.public_url = "https://crm.example.com/genjin/"
    url = link_in(chat.reply("/看板", as_="张三"))
    assert url.startswith("https://crm.example.com/genjin/board/open?t=")


def test_the_cookie_is_secure_behind_https(board_book: Book, board_app, board_runtime):
    token = make_token(board_runtime, board_book.chat_id, board_book.members["张三"])
    response = board_app.test_client().get(link_path(token), base_url="https://bot.example.com")
    assert _cookie(response)[COOKIE]["secure"]
    board_runtime.settings.server.public_url = "https://bot.example.com"
    response = board_app.test_client().get(link_path(token))  # TLS ends at the proxy
    assert _cookie(response)[COOKIE]["secure"]


def test_an_expired_link_is_refused_in_chinese(
    board_book: Book, board_app, board_runtime, clock: Clock
):
    token = make_token(board_runtime, board_book.chat_id, board_book.members["张三"])
    clock.advance(hours=168, seconds=-1)
    assert board_app.test_client().get(link_path(token)).status_code == 303
    clock.advance(seconds=1)
    response = board_app.test_client().get(link_path(token))
    assert response.status_code == 410
    assert Refusal.EXPIRED.value in _text(response) and "/看板" in _text(response)
    _has_security_headers(response)


def test_a_session_ends_when_its_link_would_have(
    board_book: Book, board_app, board_runtime, clock: Clock
):
    client = open_client(board_app, board_runtime, board_book.chat_id, board_book.members["张三"])
    clock.advance(hours=167)
    assert client.get("/board/").status_code == 303
    clock.advance(hours=1)
    response = client.get(f"/board/t/{board_book.chat_id}/")
    assert response.status_code == 401 and Refusal.EXPIRED.value in _text(response)


def test_link_lifetime_follows_the_config(board_book: Book, board_runtime, chat, clock):
    board_runtime.settings.board.link_ttl_hours = 1.5
    reply = chat.reply("/看板", as_="张三")
    assert "1 小时 30 分钟内有效" in reply
    app = create_app(board_runtime.settings, board_runtime)
    clock.advance(minutes=90)
    assert app.test_client().get(_path(link_in(reply))).status_code == 410


def test_reset_revokes_old_links_and_open_sessions_but_not_new_ones(
    board_book: Book, board_app, chat: ChatHarness
):
    old = link_in(chat.reply("/看板", as_="张三"))
    browser = board_app.test_client()
    assert browser.get(_path(old)).status_code == 303
    reply = chat.reply("/看板 重置", as_="张三")
    assert "已重置" in reply and "作废" in reply
    assert chat.member("张三").board_epoch == 1
    page = browser.get(f"/board/t/{board_book.chat_id}/")
    assert page.status_code == 403 and Refusal.REVOKED.value in _text(page)
    again = board_app.test_client().get(_path(old))
    assert again.status_code == 403 and Refusal.REVOKED.value in _text(again)
    fresh = link_in(chat.reply("/看板", as_="张三"))
    assert board_app.test_client().get(_path(fresh)).status_code == 303
    # Someone else's reset leaves this member's links alone.
    chat.reply("/看板 重置", as_="李四")
    assert board_app.test_client().get(_path(fresh)).status_code == 303


def test_board_with_other_words_says_how_to_use_it(board_book: Book, chat: ChatHarness):
    reply = chat.reply("/看板 给我", as_="张三")
    assert "重置" in reply and "/看板" in reply
    assert chat.member("张三").board_epoch == 0


@pytest.mark.parametrize(
    "change",
    ["chat", "member", "epoch", "expiry", "signature", "purpose", "secret"],
)
def test_a_tampered_link_is_refused(board_book: Book, board_app, board_runtime, change: str):
    member = board_book.members["张三"]
    token = make_token(board_runtime, board_book.chat_id, member)
    chat_id, member_id, epoch, expires, signature = token.split(".")
    forged = {
        "chat": f"{board_book.other_chat_id}.{member_id}.{epoch}.{expires}.{signature}",
        "member": f"{chat_id}.{board_book.members['王经理']}.{epoch}.{expires}.{signature}",
        "epoch": f"{chat_id}.{member_id}.7.{expires}.{signature}",
        "expiry": f"{chat_id}.{member_id}.{epoch}.{int(expires) + 86400}.{signature}",
        "signature": f"{chat_id}.{member_id}.{epoch}.{expires}.{signature[:-1]}"
        + ("A" if signature[-1] != "A" else "B"),
        "purpose": sign(SECRET, Claims(int(chat_id), member, 0, int(expires)), SESSION),
        "secret": sign(
            "another-secret-0123456789-abcdefghijkl",
            Claims(int(chat_id), member, 0, int(expires)),
            LINK,
        ),
    }[change]
    response = board_app.test_client().get(link_path(forged))
    assert response.status_code == 403
    assert Refusal.MALFORMED.value in _text(response)


def test_a_link_token_is_no_session_cookie(board_book: Book, board_app, board_runtime):
    token = make_token(board_runtime, board_book.chat_id, board_book.members["张三"])
    client = board_app.test_client()
    client.set_cookie(COOKIE, token, path="/board")
    assert client.get(f"/board/t/{board_book.chat_id}/").status_code == 403


@pytest.mark.parametrize(
    "token",
    [
        "",
        "x",
        "1.2.3.4.5",
        "1.2.3.4." + "A" * 43,
        "9" * 30 + ".1.0.1.abc",
        "１.２.０.９." + "A" * 43,
        "1.1.0.99999999999." + "A" * 43,
        "%00%ff",
        "a" * 5000,
        "<script>alert(1)</script>",
    ],
)
def test_garbage_links_and_cookies_are_refused_never_a_500(board_book: Book, board_app, token):
    client = board_app.test_client()
    response = client.get("/board/open", query_string={"t": token})
    assert response.status_code == 403, token
    assert "<script>alert" not in _text(response)
    _has_security_headers(response)
    client.set_cookie(COOKIE, token[:3000], path="/board")
    for path in ("/board/", f"/board/t/{board_book.chat_id}/", "/board/company"):
        page = client.get(path)
        assert page.status_code in (401, 403), (path, page.status_code)
        assert "看板" in _text(page)


def test_odd_addresses_are_4xx(board_book: Book, board_app, board_runtime):
    client = open_client(board_app, board_runtime, board_book.chat_id, board_book.members["王经理"])
    for path in (
        "/board/t/99999999999999999999999/",
        "/board/t/-1/",
        "/board/t/0/",
        "/board/static/../../config.py",
        "/board/static/nothing.js",
        "/board/open",
    ):
        assert 400 <= client.get(path).status_code < 500, path


def test_without_a_session_the_board_says_how_to_get_one(board_book: Book, board_app):
    response = board_app.test_client().get(f"/board/t/{board_book.chat_id}/")
    assert response.status_code == 401 and "/看板" in _text(response)
    _has_security_headers(response)


# -- teams: each sees its own ------------------------------------------------------------------
def test_a_session_of_one_team_cannot_open_another_teams_board_both_ways(
    board_book: Book, board_app, board_runtime
):
    one = open_client(board_app, board_runtime, board_book.chat_id, board_book.members["王经理"])
    two = open_client(
        board_app, board_runtime, board_book.other_chat_id, board_book.other_members["赵六"]
    )
    refused = one.get(f"/board/t/{board_book.other_chat_id}/")
    assert refused.status_code == 403 and Refusal.OTHER_CHAT.value in _text(refused)
    assert two.get(f"/board/t/{board_book.chat_id}/").status_code == 403
    assert one.get(f"/board/t/{board_book.chat_id}/").status_code == 200
    assert two.get(f"/board/t/{board_book.other_chat_id}/").status_code == 200
    assert "远方贸易" not in _text(one.get("/board/company"))
    assert "北方重工" not in _text(two.get(f"/board/t/{board_book.other_chat_id}/"))


def test_a_signed_link_naming_a_member_of_another_chat_is_refused(
    board_book: Book, board_app, board_runtime
):
    """Even a correctly signed claim pairing chat 1 with a member of chat 2 opens nothing."""
    token = make_token(board_runtime, board_book.chat_id, board_book.other_members["赵六"])
    response = board_app.test_client().get(link_path(token))
    assert response.status_code == 403 and Refusal.UNKNOWN_MEMBER.value in _text(response)


def test_an_admin_sees_every_team_a_manager_their_own_a_rep_none(
    board_book: Book, board_app, board_runtime
):
    admin = open_client(board_app, board_runtime, board_book.chat_id, board_book.members["老板"])
    page = _text(admin.get("/board/company"))
    assert "销售一组" in page and "销售二组" in page and "2 个团队" in page
    assert f'href="/board/t/{board_book.other_chat_id}/"' in page
    assert admin.get(f"/board/t/{board_book.other_chat_id}/").status_code == 200
    manager = open_client(
        board_app, board_runtime, board_book.chat_id, board_book.members["王经理"]
    )
    page = _text(manager.get("/board/company"))
    assert "销售一组" in page and "销售二组" not in page and "1 个团队" in page
    rep = open_client(board_app, board_runtime, board_book.chat_id, board_book.members["张三"])
    response = rep.get("/board/company")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/board/t/{board_book.chat_id}/"
    assert rep.get("/board/company.xlsx").status_code == 303
    assert 'data-nav="company"' not in _text(rep.get(f"/board/t/{board_book.chat_id}/"))


def test_a_role_change_applies_to_open_sessions(
    board_book: Book, board_app, board_runtime, chat: ChatHarness
):
    manager = open_client(
        board_app, board_runtime, board_book.chat_id, board_book.members["王经理"]
    )
    assert manager.get("/board/company").status_code == 200
    chat.reply("/设置 销售 @王经理", as_="老板")
    with board_runtime.sessions() as session:
        assert session.get(Member, board_book.members["王经理"]).role == ROLE_REP
    assert manager.get("/board/company").status_code == 303


def test_the_boards_role_rule_is_the_chats(board_runtime: Runtime):
    settings = board_runtime.settings
    for user_id, role in [("老板", ROLE_REP), ("王经理", ROLE_MANAGER), ("张三", "other")]:
        member = Member(user_id=user_id, name=user_id, role=role)
        assert effective_role(settings, member) == role_of(settings, member)


def test_company_figures_agree_with_the_export(board_book: Book, board_app, board_runtime):
    """Stage counts, open amount, this month's wins and payments: as `genjin export` has them."""
    from bot.export import export

    admin = open_client(board_app, board_runtime, board_book.chat_id, board_book.members["老板"])
    page = _text(admin.get("/board/company"))
    for chat_id, name in [(board_book.chat_id, "销售一组"), (board_book.other_chat_id, "销售二组")]:
        with board_runtime.sessions() as session:
            data = export(session, name)
        assert data is not None
        live = [c for c in data["customers"] if c["deleted_at"] is None]
        block = page[page.index(f'data-team="{chat_id}"') :]
        block = block[: block.index("</article>")]
        stages: dict[str, int] = {}
        for customer in live:
            stages[customer["stage"]] = stages.get(customer["stage"], 0) + 1
        for stage, count in stages.items():
            assert f'data-stage="{stage}">{count}<' in block, (name, stage, count)
        assert f'data-k="customers">{len(live)}<' in block
        open_amount = sum(c["amount"] or 0 for c in live if c["status"] == "open")
        assert f'data-k="open_amount">{open_amount:,.0f}<' in block
    team = page[page.index(f'data-team="{board_book.chat_id}"') :]
    assert 'data-k="won">1 个 · 480,000<' in team  # 西部能源, signed on the 16th
    assert 'data-k="paid">200,000<' in team
    assert 'data-k="overdue">' in team


def test_company_table_downloads_as_xlsx(board_book: Book, board_app, board_runtime):
    admin = open_client(board_app, board_runtime, board_book.chat_id, board_book.members["老板"])
    response = admin.get("/board/company.xlsx")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0][:3] == ["团队", "客户", "进行中"]
    assert [row[0] for row in rows[1:]] == ["销售一组", "销售二组"]


def test_user_text_is_escaped_on_the_company_page(board_book: Book, board_app, board_runtime):
    with board_runtime.sessions() as session, session.begin():
        from models.chat import Chat

        session.get(Chat, board_book.other_chat_id).name = "<img src=x onerror=alert(1)>"
    admin = open_client(board_app, board_runtime, board_book.chat_id, board_book.members["老板"])
    page = _text(admin.get("/board/company"))
    assert "<img src=x" not in page and "&lt;img src=x" in page


# -- off, secret, config ----------------------------------------------------------------------
def test_without_a_secret_the_board_is_off_and_says_how_to_turn_it_on(
    runtime: Runtime, chat: ChatHarness
):
    reply = chat.reply("/看板", as_="张三")
    assert "没有开启" in reply and "[board]" in reply and "GENJIN_BOARD_SECRET" in reply
    app = create_app(runtime.settings, runtime)
    if runtime.engine.dialect.name == "sqlite":  # genjin serve generated board.secret next to it
        assert runtime.settings.board.secret
        return
    response = app.test_client().get("/board/open?t=x")
    assert response.status_code == 404 and "没有开启" in _text(response)


def test_a_generated_secret_is_private_and_stable(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path}/data/genjin.db")
    assert stored_secret(engine) is None  # reading never creates
    first = stored_secret(engine, create=True)
    path = tmp_path / "data" / "board.secret"
    assert first and len(first) >= 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stored_secret(engine, create=True) == first == stored_secret(engine)
    path.write_text("short")
    assert stored_secret(engine) is None
    assert stored_secret(make_engine("sqlite://")) is None


def test_board_settings_are_checked_and_the_secret_never_shown():
    with pytest.raises(ConfigError) as short:
        load_settings(env={"GENJIN_BOARD_SECRET": "tooshort-but-secret"})
    assert "board.secret" in str(short.value) and "tooshort" not in str(short.value)
    with pytest.raises(ConfigError, match="link_ttl_hours"):
        load_settings(env={"GENJIN_BOARD_LINK_TTL_HOURS": "0"})
    with pytest.raises(ConfigError, match="public_url"):
        load_settings(env={"GENJIN_SERVER_PUBLIC_URL": "bot.example.com"})
    settings = load_settings(
        env={"GENJIN_BOARD_SECRET": SECRET, "GENJIN_SERVER_PUBLIC_URL": "https://b.example"}
    )
    assert settings.board.secret == SECRET and settings.server.base_url() == "https://b.example"
    assert Settings().server.base_url() == "http://127.0.0.1:8000"


def test_tokens_read_back_and_refuse_in_their_own_words(clock: Clock):
    claims = Claims(3, 7, 2, int(clock.now.timestamp()) + 60)
    token = sign(SECRET, claims, LINK)
    assert read(SECRET, token, clock.now, LINK) == claims
    for wrong, reason in [
        (lambda: read(SECRET, token, clock.now, SESSION), Refusal.MALFORMED),
        (lambda: read("", token, clock.now, LINK), Refusal.MALFORMED),
    ]:
        with pytest.raises(TokenError) as refused:
            wrong()
        assert refused.value.reason is reason
    assert lifetime_words(168) == "7 天" and lifetime_words(0.5) == "30 分钟"


# -- static files ------------------------------------------------------------------------------
def test_the_chart_library_is_served_gzipped_and_cached_long(
    board_book: Book, board_app, board_runtime
):
    client = open_client(board_app, board_runtime, board_book.chat_id, board_book.members["王经理"])
    page = _text(client.get("/board/company"))
    start = page.index('data-echarts="') + len('data-echarts="')
    url = page[start : page.index('"', start)]
    zipped = client.get(url, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert zipped.status_code == 200 and zipped.headers["Content-Encoding"] == "gzip"
    assert (
        "immutable" in zipped.headers["Cache-Control"]
        and "max-age=31536000" in zipped.headers["Cache-Control"]
    )
    assert zipped.headers["Vary"] == "Accept-Encoding"
    plain = client.get(url)
    assert "Content-Encoding" not in plain.headers
    assert gzip.decompress(zipped.data) == plain.data
    assert plain.data.startswith(b"/*! ECharts")
    assert len(zipped.data) < 250_000
    unversioned = client.get(url.split("?")[0])
    assert "immutable" not in unversioned.headers["Cache-Control"]


# -- board-link CLI ----------------------------------------------------------------------------
def test_board_link_cli_prints_a_link_that_opens(
    board_book: Book, board_app, board_runtime, capsys, monkeypatch
):
    from bot.cli import main

    if board_runtime.engine.dialect.name != "sqlite":
        pytest.skip("the CLI reads the database by URL; the SQLite copy is enough here")
    url = board_runtime.engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("GENJIN_BOARD_SECRET", SECRET)
    monkeypatch.delenv("GENJIN_CONFIG", raising=False)
    at = board_runtime.clock().replace(tzinfo=None).isoformat(timespec="minutes")
    code = main(["board-link", "--chat", "销售一组", "--as", "张三", "--at", at, "--db", url])
    out = capsys.readouterr()
    assert code == 0, out.err
    link = out.out.strip()
    assert SECRET not in out.out + out.err
    assert "张三（销售）" in out.err and "7 天内有效" in out.err
    assert board_app.test_client().get(_path(link)).status_code == 303
    for args, words in [
        (["--chat", "销售九组", "--as", "张三"], "no team chat named"),
        (["--chat", "销售一组", "--as", "无名氏"], "no member named"),
    ]:
        assert main(["board-link", *args, "--db", url]) == 2
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1
    monkeypatch.delenv("GENJIN_BOARD_SECRET")
    assert main(["board-link", "--chat", "销售一组", "--as", "张三", "--db", url]) == 2
    assert "board is off" in capsys.readouterr().err


# -- Feishu: the link goes to the person, also from their private desk ---------------------------
@pytest.fixture
def feishu_board(engine, settings, clock, fake):
    from tests.support.feishu_fixtures import FeishuChat, configure_feishu

    configure_feishu(settings, fake)
    settings.board.secret = SECRET
    return FeishuChat(Runtime(settings, engine=engine, clock=clock), fake)


def test_on_feishu_the_link_is_sent_privately_and_works_from_the_desk(feishu_board, fake):
    from tests.support.feishu_fixtures import CHAT
    from tests.test_private_desk import in_group, private

    in_group(feishu_board, "/我的")  # 张三 (ou_zhang) joins the team chat
    app = create_app(feishu_board.runtime.settings, feishu_board.runtime)
    before = len(fake.sent)
    in_group_event(feishu_board, "/看板")
    (to_him,) = fake.sent_to_user("ou_zhang")[-1:]
    assert "/board/open?t=" in to_him.text
    assert all(
        "/board/open" not in s.text for s in fake.sent[before:] if s.receive_id_type == "chat_id"
    )
    group = [
        s.text
        for s in fake.sent[before:]
        if s.chat_id == CHAT and not s.receive_id_type == "open_id"
    ]
    assert any("看板链接已私信发给你" in text for text in group), group  # the group hears where
    assert app.test_client().get(_path(link_in(to_him.text))).status_code == 303
    (answer,) = private(feishu_board, "/看板")  # the desk works on the team's book
    response = app.test_client().get(_path(link_in(answer)))
    assert response.status_code == 303
    with feishu_board.runtime.sessions() as session:
        from models.chat import Chat

        team = session.scalars(select(Chat).where(Chat.external_id == CHAT)).first()
        assert team is not None
        assert response.headers["Location"] == f"/board/t/{team.id}/"


def in_group_event(feishu, text: str) -> None:
    """Say ``@跟进助手 text`` in the team chat without expecting a reply there."""
    from tests.support.feishu_fixtures import CHAT, TOKEN
    from tests.support.feishu_testkit import BOT_OPEN_ID, mention, message_event
    from tests.test_private_desk import settle

    feishu.count += 1
    event = message_event(
        f"@_user_1 {text}",
        chat_id=CHAT,
        open_id="ou_zhang",
        token=TOKEN,
        message_id=f"om_group_board_{feishu.count}",
        mentions=[mention("@_user_1", BOT_OPEN_ID, "跟进助手")],
        create_time_ms=feishu.now_ms(),
    )
    feishu.fake.note_event(event)
    assert feishu.post_event(event).status_code == 200
    settle(feishu)


def test_a_customer_out_of_scope_is_a_chinese_404_for_a_rep_and_another_team(
    board_book: Book, board_app, board_runtime
):
    with board_runtime.sessions() as session:
        from models.customer import Customer

        ids = {c.name: c.id for c in session.scalars(select(Customer))}
    rep = open_client(board_app, board_runtime, board_book.chat_id, board_book.members["张三"])
    own = rep.get(f"/board/t/{board_book.chat_id}/customer/{ids['北方重工']}")
    assert own.status_code == 200
    for name in ("东方物流", "远方贸易"):  # 李四's customer; the other team's customer
        response = rep.get(f"/board/t/{board_book.chat_id}/customer/{ids[name]}")
        assert response.status_code == 404 and "没有这个页面" in _text(response), name
        assert name not in _text(response)
        _has_security_headers(response)
