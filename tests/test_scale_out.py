"""Running as several processes: refused on SQLite with a clear message, shared work on PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from models.db import make_engine
from tests.support.cluster import command_events, feishu_env, genjin_cluster, post_events
from tests.support.fake_feishu import FakeFeishu
from tests.support.feishu_testkit import BOT_OPEN_ID
from tests.support.harness import PG_URL
from tests.support.pgschema import pg_schema
from tests.support.serving import free_port, genjin_serve, get_json

pytestmark = pytest.mark.slow  # real `genjin` processes and clusters


def _cli(args: list[str], db: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "GENJIN_DATABASE_URL": db}
    env.pop("GENJIN_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=60,
    )


@pytest.mark.parametrize("command", ["web", "worker"])
def test_web_and_worker_refuse_sqlite_with_one_line(tmp_path, command):
    result = _cli([command], f"sqlite:///{tmp_path}/x.db", tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"genjin: {command}: SQLite serves a single process; run `genjin serve`, or point "
        "database.url at PostgreSQL to run separate web and worker processes"
    ]


def test_a_second_serve_on_the_same_sqlite_file_is_refused(tmp_path):
    db = f"sqlite:///{tmp_path}/one.db"
    with genjin_serve(tmp_path, {"GENJIN_DATABASE_URL": db}):
        second = _cli(["serve", "--port", "1"], db, tmp_path)
    assert second.returncode == 2
    assert "another genjin process already serves" in second.stderr


def test_metrics_in_prometheus_format(tmp_path):
    with genjin_serve(tmp_path, {"GENJIN_DATABASE_URL": f"sqlite:///{tmp_path}/m.db"}) as served:
        with urllib.request.urlopen(f"{served.base}/metrics", timeout=5) as response:
            body = response.read().decode()
    assert "genjin_up 1" in body and "genjin_outbox_pending 0" in body


@pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL (GENJIN_TEST_DATABASE_URL)")
def test_web_and_two_workers_on_postgresql_answer_every_message_once(tmp_path):
    """The sandbox page works against a scaled deployment too: one chat, answered in order."""
    env = {"GENJIN_SERVER_SANDBOX": "on"}
    with (
        pg_schema(PG_URL, "genjin_scale") as schema,
        genjin_cluster(tmp_path, schema.url, workers=2, env=env, port=free_port()) as cluster,
    ):
        base = f"http://127.0.0.1:{cluster.port}"
        for i in range(30):
            body = json.dumps(
                {"chat": "销售一组", "as": f"rep{i % 3}", "text": f"/跟进 客户{i:02d} 拜访"}
            ).encode()
            request = urllib.request.Request(
                f"{base}/sandbox/api/send", data=body, headers={"Content-Type": "application/json"}
            )
            urllib.request.urlopen(request, timeout=5).read()
        chat = f"{base}/sandbox/api/messages?chat=%E9%94%80%E5%94%AE%E4%B8%80%E7%BB%84"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if sum(e["kind"] == "bot" for e in get_json(chat)["events"]) >= 30:
                break
            time.sleep(0.2)
        time.sleep(1.0)  # a late duplicate would show now
        bots = [e for e in get_json(chat)["events"] if e["kind"] == "bot"]
    assert len(bots) == 30
    created = [e["text"].split(" ")[2] for e in bots]
    assert created == [f"客户{i:02d}" for i in range(30)]  # each once, and in the order sent


@pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL (GENJIN_TEST_DATABASE_URL)")
def test_three_workers_share_a_burst_of_5000_signed_events_exactly_once(tmp_path):
    """`genjin web` + 3 `genjin worker`s on PostgreSQL, 5,000 signed and encrypted Feishu events.

    Every command is stored once (also when Feishu redelivers), answered once, and the
    dispatching is spread over all three workers; one of them sends (the sender lock).
    """
    count = 5000
    run = uuid.uuid4().hex[:8]
    events = command_events(count, run)
    fake = FakeFeishu(bot_open_id=BOT_OPEN_ID, enforce_limits=False).start()
    try:
        for message_id, chat_id, _, _ in events:
            fake.register_message(message_id, chat_id)
        env = feishu_env(fake.url, fake.app_id, fake.app_secret)
        with (
            pg_schema(PG_URL, "genjin_scale") as schema,
            genjin_cluster(tmp_path, schema.url, workers=3, env=env, port=free_port()) as cluster,
        ):
            load = post_events(cluster.port, events, concurrency=8)
            assert load.statuses.count(200) == count, cluster.output()
            again = post_events(cluster.port, events[:300], concurrency=4)  # Feishu's retries
            assert again.statuses.count(200) == 300
            deadline = time.monotonic() + 240
            while len(fake.sent) < count and time.monotonic() < deadline:
                time.sleep(0.5)
            time.sleep(2.0)  # anything extra would show up now
            engine = make_engine(schema.url)
            try:
                with engine.connect() as conn:
                    inbox = conn.execute(
                        text("SELECT message_id, status, handled_by FROM inbox")
                    ).all()
                    outbox = conn.execute(
                        text("SELECT inbox_id, status, sent_by, key FROM outbox")
                    ).all()
                    follow_ups = conn.execute(
                        text("SELECT count(*) FROM activity WHERE kind = 'follow_up'")
                    ).scalar()
            finally:
                engine.dispose()
    finally:
        fake.stop()

    # Stored once: one inbox row per event, every one handled.
    assert len(inbox) == count
    assert {row.message_id for row in inbox} == {e[0] for e in events}
    assert {row.status for row in inbox} == {"done"}
    # Answered once: one outbox row per inbox row, all sent, each request once at the fake.
    assert len(outbox) == count
    assert len({row.inbox_id for row in outbox}) == count
    assert {row.status for row in outbox} == {"sent"}
    assert len(fake.sent) == count
    assert sorted(s.reply_to for s in fake.sent) == sorted(e[0] for e in events)
    assert {s.uuid for s in fake.sent} == {row.key for row in outbox}
    # Each follow-up logged once (15 of every 20 commands are follow-ups).
    assert follow_ups == count * 15 // 20
    # Spread: all three workers dispatched a fair share; one process sent.
    shares = Counter(row.handled_by for row in inbox)
    assert len(shares) == 3, shares
    assert min(shares.values()) >= count // 10, shares
    assert len({row.sent_by for row in outbox}) == 1
