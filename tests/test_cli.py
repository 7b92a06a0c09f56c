"""The CLI contract: `genjin say` (one line, --json, --script, --message-id, --at), `export`, `db`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.harness import PG_URL
from tests.support.pgschema import pg_schema

# Every test here runs the real `genjin` command in a new process (a second or more each).
pytestmark = pytest.mark.slow


def run(
    args: list[str], db: str, cwd: Path, check: bool = True, **env: str
) -> subprocess.CompletedProcess:
    environment = {**os.environ, "GENJIN_DATABASE_URL": db, **env}
    environment.pop("GENJIN_CONFIG", None)
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(params=["sqlite", "postgresql"] if PG_URL else ["sqlite"])
def db(request, tmp_path) -> Iterator[str]:
    """A database URL for CLI subprocesses: a new SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/cli.db"
        return
    with pg_schema(PG_URL, "genjin_cli") as schema:
        yield schema.url


def test_say_prints_the_reply(db, tmp_path):
    out = run(
        [
            "say",
            "--chat",
            "销售一组",
            "--as",
            "张三",
            "--at",
            "2026-11-27T10:00",
            "/跟进 客户A 报价已发 明天回访",
        ],
        db,
        tmp_path,
    )
    assert (
        out.stdout
        == "🆕 新客户 客户A 已建档，负责人 @张三\n✅ 客户A｜跟进中 → 已报价｜下次跟进 11月28日(周六)\n"
    )


def test_say_json_and_redelivery_with_message_id(db, tmp_path):
    args = [
        "say",
        "--chat",
        "c",
        "--as",
        "张三",
        "--at",
        "2026-11-27T10:00",
        "--message-id",
        "om_1",
        "--json",
        "/跟进 客户A 明天回访",
    ]
    first = json.loads(run(args, db, tmp_path).stdout)
    assert first == [
        {
            "text": "🆕 新客户 客户A 已建档，负责人 @张三\n✅ 客户A｜跟进中｜下次跟进 11月28日(周六)",
            "mentions": ["张三"],
        }
    ]
    assert json.loads(run(args, db, tmp_path).stdout) == []
    exported = json.loads(run(["export", "--chat", "c", "--format", "json"], db, tmp_path).stdout)
    assert len(exported["activities"]) == 2


def test_at_fixes_the_clock_in_the_chat_time_zone(db, tmp_path):
    run(
        ["say", "--chat", "c", "--as", "张三", "--at", "2026-12-30T23:30", "/跟进 客户A 明天回访"],
        db,
        tmp_path,
    )
    (customer,) = json.loads(run(["export", "--chat", "c"], db, tmp_path).stdout)["customers"]
    assert customer["next_follow_up"] == "2026-12-31T00:00:00+08:00"
    assert customer["last_activity_at"] == "2026-12-30T23:30:00+08:00"


def test_bad_at_is_one_line_error(db, tmp_path):
    out = run(
        ["say", "--chat", "c", "--as", "x", "--at", "tomorrow", "/帮助"], db, tmp_path, check=False
    )
    assert out.returncode == 2 and out.stderr.startswith("genjin: --at:")


def test_say_script_replays_a_team_conversation(db, tmp_path):
    """The scripted conversation a sales manager would run through."""
    lines = [
        {"chat": "销售一组", "as": "老板", "text": "/设置 经理 @王经理", "at": "2026-11-23T09:00"},
        {
            "chat": "销售一组",
            "as": "王经理",
            "text": "/新客户 华为技术有限公司 50万 展会",
            "at": "2026-11-23T09:10",
        },
        {"chat": "销售一组", "as": "王经理", "text": "/新客户 华润集团", "at": "2026-11-23T09:11"},
        {
            "chat": "销售一组",
            "as": "王经理",
            "text": "/分配 华为技术 @张三",
            "at": "2026-11-23T09:12",
        },
        {
            "chat": "销售一组",
            "as": "张三",
            "text": "@跟进助手 /跟进 华为 电话沟通，报价已发 5.5万 下周三回访",
            "at": "2026-11-23T11:00",
        },
        {
            "chat": "销售一组",
            "as": "李四",
            "text": "/跟进 华为 我顺便问了下",
            "at": "2026-11-23T11:05",
        },
        {"chat": "销售一组", "as": "李四", "text": "/分配 华润 @李四", "at": "2026-11-23T11:06"},
        {
            "chat": "销售一组",
            "as": "李四",
            "text": "／跟进 小米 初次拜访，明天下午3点再聊",
            "at": "2026-11-23T14:00",
        },
        {
            "chat": "销售一组",
            "as": "李四",
            "text": "/新客户 东方科技 老客户介绍",
            "at": "2026-11-23T14:01",
        },
        {"chat": "销售一组", "as": "李四", "text": "/新客户 东方电气", "at": "2026-11-23T14:01"},
        {"chat": "销售一组", "as": "李四", "text": "/跟进 东方 补充资料", "at": "2026-11-23T14:02"},
        {"chat": "销售一组", "as": "李四", "text": "2", "at": "2026-11-23T14:03"},
        {"chat": "销售一组", "as": "李四", "text": "/撤销", "at": "2026-11-23T14:04"},
        {"chat": "销售一组", "as": "张三", "text": "/跟进 华为", "at": "2026-11-23T15:00"},
        {"chat": "销售一组", "as": "张三", "text": "/客户 华为", "at": "2026-11-23T15:01"},
        {
            "chat": "销售一组",
            "as": "张三",
            "text": "/跟进 华为 电话沟通，报价已发 5.5万 下周三回访",
            "at": "2026-11-23T11:00",
            "message_id": "dup",
        },
        {
            "chat": "销售一组",
            "as": "张三",
            "text": "/跟进 华为 电话沟通，报价已发 5.5万 下周三回访",
            "at": "2026-11-23T11:00",
            "message_id": "dup",
        },
    ]
    script = tmp_path / "week.jsonl"
    script.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines), encoding="utf-8")
    result = run(["say", "--script", str(script)], db, tmp_path, GENJIN_BOT_ADMINS="老板")
    out = [json.loads(x) for x in result.stdout.splitlines()]
    texts = [[r["text"] for r in o["replies"]] for o in out]
    assert texts[0] == [
        "✅ 已将 @王经理 设为经理\n经理可以 /分配 客户、修改任何客户，并收到升级提醒"
    ]
    assert texts[1][0].startswith("🆕 新客户 华为技术有限公司｜线索｜金额 50万｜来源 展会")
    assert texts[3] == [
        "✅ 华为技术有限公司 已分配给 @张三（线索 → 已分配）\n请在 2 个工作小时内跟进并用 /跟进 记录"
        "\n（“华为技术”按 华为技术有限公司 处理）"
    ]
    assert out[3]["replies"][0]["mentions"] == ["张三"]
    assert texts[4] == ["✅ 华为技术有限公司｜已分配 → 已报价｜金额 5.5万｜下次跟进 12月2日(周三)"]
    assert texts[5][0].startswith("⛔ 华为技术有限公司 的负责人是 张三，只有负责人或经理可以跟进")
    assert texts[6][0].startswith("⛔ 只有经理或管理员可以分配客户（本群经理：王经理）")
    assert texts[7] == [
        "🆕 新客户 小米 已建档，负责人 @李四\n✅ 小米｜跟进中｜下次跟进 11月24日(周二) 15:00"
    ]
    assert texts[8][0].startswith("🆕 新客户 东方科技｜线索｜来源 老客户介绍")
    assert texts[10] in (
        ["🤔 “东方”对应多个客户，回复数字选择：\n1. 东方科技\n2. 东方电气"],
        ["🤔 “东方”对应多个客户，回复数字选择：\n1. 东方电气\n2. 东方科技"],
    )
    chosen = texts[10][0].splitlines()[2][3:]
    assert texts[11] == [f"👤 {chosen} 的负责人设为 @李四\n✅ {chosen}｜线索 → 跟进中"]
    assert texts[12] == [f"↩️ 已撤销对 {chosen} 的记录：补充资料，客户已恢复原样"]
    assert texts[13][0].startswith("❌ 请写上跟进内容\n例如：/跟进 华为 报价已发 下周三回访")
    assert texts[14][0].startswith("【📇 华为技术有限公司】")
    assert (
        out[15]["duplicate"] is False and out[16]["duplicate"] is True and out[16]["replies"] == []
    )

    exported = json.loads(
        run(["export", "--chat", "销售一组", "--format", "json"], db, tmp_path).stdout
    )
    customers = {c["name"]: c for c in exported["customers"]}
    huawei = customers["华为技术有限公司"]
    assert (huawei["stage"], huawei["status"], huawei["owner"]) == ("已报价", "open", "张三")
    assert huawei["amount"] == 55000.0
    assert huawei["next_follow_up"] == "2026-12-02T00:00:00+08:00"
    assert customers["华润集团"]["stage"] == "线索" and customers["华润集团"]["owner"] is None
    assert customers[chosen]["stage"] == "线索" and customers[chosen]["owner"] is None  # undone
    kinds = [
        (a["customer"], a["kind"], a["member"])
        for a in exported["activities"]
        if a["undone_at"] is None
    ]
    assert ("华为技术有限公司", "assign", "王经理") in kinds
    assert not any(m == "李四" and c == "华为技术有限公司" for c, _, m in kinds)
    undone = [a for a in exported["activities"] if a["undone_at"]]
    assert undone and all(a["member"] == "李四" for a in undone)
    for a in exported["activities"]:
        assert set(a) >= {
            "customer",
            "member",
            "kind",
            "text",
            "stage_from",
            "stage_to",
            "amount",
            "created_at",
            "undone_at",
        }
    for c in exported["customers"]:
        assert set(c) >= {
            "name",
            "stage",
            "status",
            "owner",
            "amount",
            "next_follow_up",
            "last_activity_at",
        }


@pytest.mark.slow
def test_export_without_chat_covers_all_chats(db, tmp_path):
    run(["say", "--chat", "一组", "--as", "张三", "/跟进 客户A 聊了聊"], db, tmp_path)
    run(["say", "--chat", "二组", "--as", "李四", "/跟进 客户B 聊了聊"], db, tmp_path)
    data = json.loads(run(["export"], db, tmp_path).stdout)
    assert sorted((c["chat"], c["name"]) for c in data["customers"]) == [
        ("一组", "客户A"),
        ("二组", "客户B"),
    ]
    only = json.loads(run(["export", "--chat", "二组"], db, tmp_path).stdout)
    assert [c["name"] for c in only["customers"]] == ["客户B"]
    missing = run(["export", "--chat", "三组"], db, tmp_path, check=False)
    assert missing.returncode == 2 and "三组" in missing.stderr


def test_db_upgrade_reports_the_revision(db, tmp_path):
    from alembic.script import ScriptDirectory

    from models.db import alembic_config, make_engine

    head = ScriptDirectory.from_config(alembic_config(make_engine(db))).get_current_head()
    assert head and head >= "0009"
    assert run(["db", "upgrade"], db, tmp_path).stdout.strip() == f"schema revision: {head}"
    assert run(["db", "current"], db, tmp_path).stdout.strip() == f"schema revision: {head}"


def test_admins_from_environment(db, tmp_path):
    out = run(
        ["say", "--chat", "c", "--as", "王总", "/设置 经理 @李四"],
        db,
        tmp_path,
        GENJIN_BOT_ADMINS="王总,赵总",
    )
    assert out.stdout.startswith("✅ 已将 @李四 设为经理")
    refused = run(["say", "--chat", "c", "--as", "张三", "/设置 经理 @张三"], db, tmp_path)
    assert refused.stdout.startswith("⛔ 只有管理员可以设置角色")


def test_unreachable_database_is_one_line(tmp_path):
    out = run(
        ["say", "--chat", "c", "--as", "x", "/帮助"],
        "postgresql+psycopg://nobody@127.0.0.1:1/none",
        tmp_path,
        check=False,
    )
    line = _error_line(out, 1)
    assert line.startswith("genjin: database unreachable") and "check database.url" in line


def test_cli_does_not_import_platform_sdks_or_web_stack(tmp_path):
    code = (
        "import sys; from bot.cli import main; "
        f"main(['say', '--db', 'sqlite:///{tmp_path}/q.db', '--chat', 'c', '--as', 'x', '/帮助']); "
        "heavy = [m for m in ('lark_oapi', 'flask', 'waitress', 'jionlp') if m in sys.modules]; "
        "print('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout.strip().endswith("HEAVY []"), out.stdout + out.stderr


def _tick(db: str, cwd: Path, at: str, *extra: str) -> list[dict]:
    out = run(["tick", "--at", at, "--json", *extra], db, cwd).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.mark.slow
def test_tick_posts_whats_due_once_and_prints_json_lines(db, tmp_path):
    run(
        [
            "say",
            "--chat",
            "销售一组",
            "--as",
            "张三",
            "--at",
            "2026-11-26T10:00",
            "/跟进 华为 报价已发 明天回访",
        ],
        db,
        tmp_path,
    )
    assert _tick(db, tmp_path, "2026-11-26T17:00") == []  # Thursday, nothing due at 17:00
    posted = _tick(db, tmp_path, "2026-11-26T18:00")
    assert [(p["chat"], p["job"]) for p in posted] == [("销售一组", "daily_digest")]
    assert set(posted[0]) >= {"chat", "job", "text", "mentions"}
    assert _tick(db, tmp_path, "2026-11-26T18:00") == []  # a second tick posts nothing
    nudges = _tick(db, tmp_path, "2026-11-27T09:30")
    assert [p["job"] for p in nudges] == ["morning_nudges"] and nudges[0]["mentions"] == ["张三"]
    assert "华为" in nudges[0]["text"]


@pytest.mark.slow
def test_two_ticks_started_together_post_one_digest_per_chat(db, tmp_path):
    for chat in ("一组", "二组", "三组"):
        run(
            ["say", "--chat", chat, "--as", "张三", "--at", "2026-11-26T10:00", "/跟进 华为 拜访"],
            db,
            tmp_path,
        )
    env = {**os.environ, "GENJIN_DATABASE_URL": db}
    env.pop("GENJIN_CONFIG", None)
    cmd = [sys.executable, "-m", "bot.cli", "tick", "--at", "2026-11-26T18:00", "--json"]
    procs = [
        subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    lines = [json.loads(line) for out, _ in outputs for line in out.splitlines() if line.strip()]
    assert sorted(p["chat"] for p in lines if p["job"] == "daily_digest") == [
        "一组",
        "三组",
        "二组",
    ]


@pytest.mark.slow
def test_digest_command_prints_without_posting_and_posts_with_send(db, tmp_path):
    run(
        [
            "say",
            "--chat",
            "销售一组",
            "--as",
            "张三",
            "--at",
            "2026-11-26T10:00",
            "/跟进 华为 报价已发 5万",
        ],
        db,
        tmp_path,
    )
    printed = run(["digest", "--chat", "销售一组", "--at", "2026-11-26T18:00"], db, tmp_path).stdout
    assert "华为" in printed or "张三" in printed
    assert (
        _tick(db, tmp_path, "2026-11-26T18:00")[0]["job"] == "daily_digest"
    )  # nothing was posted before
    sent = run(
        ["digest", "--chat", "销售一组", "--at", "2026-11-26T18:30", "--send"], db, tmp_path
    ).stdout
    assert sent.strip()
    missing = run(["digest", "--chat", "没有这个群"], db, tmp_path, check=False)
    assert missing.returncode == 2 and "没有这个群" in missing.stderr


def test_sqlite_online_backup_is_a_working_copy(tmp_path):
    db = f"sqlite:///{tmp_path}/live.db"
    run(["say", "--chat", "c", "--as", "张三", "/跟进 华为 报价已发"], db, tmp_path)
    out = run(["db", "backup", str(tmp_path / "copies" / "b.db")], db, tmp_path).stdout
    assert out.strip().endswith("b.db")
    exported = json.loads(run(["export"], f"sqlite:///{tmp_path}/copies/b.db", tmp_path).stdout)
    assert [c["name"] for c in exported["customers"]] == ["华为"]


# -- start-up errors: one line naming the cause and the fix, never a traceback -------------------
def _error_line(result: subprocess.CompletedProcess, code: int) -> str:
    """The single stderr line of a failed command (and its exit code)."""
    assert result.returncode == code, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("genjin: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_port_in_use_is_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = run(
            ["serve", "--port", str(port)], f"sqlite:///{tmp_path}/s.db", tmp_path, check=False
        )
    line = _error_line(out, 1)
    assert f"port {port} on 127.0.0.1 is already in use" in line
    assert "--port" in line  # the fix


def test_postgresql_without_its_driver_is_one_line(tmp_path):
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "psycopg.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'psycopg'\", name='psycopg')\n"
    )
    url = "postgresql+psycopg://admin:S3cretPw@127.0.0.1/genjin"
    out = run(
        ["say", "--chat", "c", "--as", "x", "/帮助"],
        url,
        tmp_path,
        check=False,
        PYTHONPATH=str(shadow),
    )
    line = _error_line(out, 1)
    assert "'psycopg', which is not installed" in line and "pip install 'genjin[postgres]'" in line
    assert "S3cretPw" not in line and "admin:***@127.0.0.1" in line


def test_driver_the_project_does_not_ship_is_one_line(tmp_path):
    out = run(["db", "current"], "postgresql+pg8000://admin:S3cretPw@h/g", tmp_path, check=False)
    line = _error_line(out, 1)
    assert "'pg8000', which is not installed" in line and "postgresql+psycopg://" in line
    assert "S3cretPw" not in line


@pytest.mark.parametrize(
    ("url", "what"),
    [
        ("foo://admin:S3cretPw@x/y", "names an unknown database type 'foo'"),
        ("postgresql+psycopg//admin:S3cretPw@x/y", "is not a database URL"),
        ("postgresql+psycopg://admin:S3cretPw@x:port/y", "is not a database URL"),
    ],
)
def test_bad_database_url_is_one_line_without_the_password(tmp_path, url, what):
    out = run(["say", "--chat", "c", "--as", "x", "/帮助"], url, tmp_path, check=False)
    line = _error_line(out, 2)
    assert "database.url" in line and what in line and "sqlite:///" in line  # the fix
    assert "S3cretPw" not in line and "admin:***@" in line


def test_missing_script_is_one_line(tmp_path):
    out = run(
        ["say", "--script", "week.jsonl"], f"sqlite:///{tmp_path}/m.db", tmp_path, check=False
    )
    line = _error_line(out, 2)
    assert line.startswith("genjin: --script: file week.jsonl not found")
    assert not (tmp_path / "m.db").exists()  # refused before touching the database


def test_misspelled_environment_variable_stops_with_a_suggestion(tmp_path):
    out = run(
        ["say", "--chat", "c", "--as", "x", "/帮助"],
        f"sqlite:///{tmp_path}/m.db",
        tmp_path,
        check=False,
        GENJIN_FEISHU_APPSECRET="S3cretValue",
    )
    line = _error_line(out, 2)
    assert line == (
        "genjin: config: unknown environment variable GENJIN_FEISHU_APPSECRET "
        "(did you mean GENJIN_FEISHU_APP_SECRET?)"
    )


def test_uncreatable_database_directory_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = run(
        ["say", "--chat", "c", "--as", "x", "/帮助"],
        f"sqlite:///{blocker}/sub/g.db",
        tmp_path,
        check=False,
    )
    line = _error_line(out, 1)
    assert "cannot create" in line and "choose a writable path" in line


def test_wrong_arguments_are_one_line(tmp_path):
    out = run(["say", "--chatt", "c"], f"sqlite:///{tmp_path}/m.db", tmp_path, check=False)
    line = _error_line(out, 2)
    assert "unrecognized arguments: --chatt" in line and "--help" in line


def test_database_url_in_logs_hides_the_password():
    from bot.cli import _database_shown
    from models.db import make_engine

    engine = make_engine("postgresql+psycopg://admin:S3cretPw@127.0.0.1:1/g?password=Other0ne")
    assert _database_shown(engine) == "postgresql+psycopg://admin:***@127.0.0.1:1/g?password=***"


@pytest.mark.skipif(not PG_URL, reason="needs GENJIN_TEST_DATABASE_URL")
def test_serve_start_up_line_hides_the_database_password(tmp_path):
    from sqlalchemy.engine import make_url

    from tests.support.serving import genjin_serve

    # The test server trusts local connections, so a password in the URL is accepted and unused.
    url = make_url(PG_URL).set(password="S3cretPw").render_as_string(hide_password=False)
    with pg_schema(url, "genjin_cli") as schema:
        with genjin_serve(tmp_path, {"GENJIN_DATABASE_URL": schema.url}) as served:
            pass
    (line,) = [x for x in served.output().splitlines() if "genjin serving on" in x]
    assert ":***@" in line and "S3cretPw" not in served.output()
