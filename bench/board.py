"""Benchmark: the manager's board pages on one big team — server time and page weight.

Data: one chat with --customers customers (default 5,000) owned by 20 reps and a manager, and
--activities activities (default 100,000) over the past year: per 1,000 entries 800 follow-ups,
70 stage moves along the ladder, 50 creations, 15 wins, 30 payments, 15 losses and 20 tag
changes; grades and tags, this month's targets and a few hundred stalled-alert items in job_run.
Inserted in bulk (Core inserts).

Then every page (pipeline, pipeline filtered, funnel, late, customer, and the pipeline .xlsx) is
requested --requests times through the Flask test client, signed in with a real board link as
the manager (the whole book) and as a rep: the median and p95 server time, the SQL statements
per request and the response size (raw and gzip) are printed, with the charts' static files.

Reproduce:  .venv/bin/python -m bench.board [--customers 5000] [--activities 100000]
                [--requests 20] [--db URL]
"""

from __future__ import annotations

import argparse
import gzip
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, event, insert, select

from bench.benchdb import bench_engine
from bot.app import create_app
from bot.config import Settings
from bot.runtime import Runtime
from models import Activity, Chat, Customer, Member, Target
from models.board_link import LINK, Claims, expiry, sign
from models.db import upgrade
from models.pipeline import JobRun
from models.stages import LADDER, LOST, status_for

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=TZ)  # a Friday morning, as in the tests
REPS = 20
SECRET = "bench-board-secret-0123456789-abcdefghij"
GRADES = ["", "", "A", "B", "C", "D"]
TAGS = ["重点", "老客户", "展会", "转介绍", "政府", "待定"]
WORDS = ["电话沟通", "拜访客户", "发了资料", "约了演示", "对方在走流程", "聊了需求，下周再联系"]


def populate(engine: Engine, customers: int, activities: int, seed: int = 11) -> None:
    """Bulk-insert one chat's book (see the module docstring)."""
    rng = random.Random(seed)
    year_ago = NOW - timedelta(days=365)
    with engine.begin() as conn:
        conn.execute(
            insert(Chat),
            [
                {
                    "id": 1,
                    "platform": "console",
                    "external_id": "销售大组",
                    "name": "销售大组",
                    "tenant_key": "",
                    "timezone": "Asia/Shanghai",
                    "settings": {},
                    "created_at": year_ago,
                }
            ],
        )
        conn.execute(
            insert(Member),
            [
                {
                    "id": r + 1,
                    "chat_id": 1,
                    "user_id": f"u{r}",
                    "name": "王经理" if r == 0 else f"销售{r:02d}",
                    "role": "manager" if r == 0 else "rep",
                    "created_at": year_ago,
                }
                for r in range(REPS + 1)
            ],
        )
        conn.execute(
            insert(Target),
            [
                {
                    "chat_id": 1,
                    "member_id": r + 1,
                    "month": "2026-11",
                    "amount": Decimal(rng.randrange(20, 200) * 10000),
                    "created_at": NOW - timedelta(days=26),
                }
                for r in range(1, REPS + 1)
            ],
        )
        rows: list[dict[str, Any]] = []
        for k in range(customers):
            stage = rng.choice([*LADDER, *LADDER[2:4], LOST])
            created = year_ago + timedelta(minutes=rng.randrange(360 * 24 * 60))
            entered = created + (NOW - created) * rng.random() * 0.9
            last = entered + (NOW - entered) * rng.random()
            due = NOW + timedelta(days=rng.randrange(-20, 15))
            amount = Decimal(rng.randrange(1, 200) * 1000) if rng.random() < 0.7 else None
            rows.append(
                {
                    "id": k + 1,
                    "chat_id": 1,
                    "name": f"客户{k:05d}有限公司",
                    "key": f"客户{k:05d}有限公司",
                    "aliases": [f"客户{k:05d}"] if k % 3 == 0 else [],
                    "owner_id": rng.randrange(2, REPS + 2) if rng.random() < 0.95 else None,
                    "stage": stage,
                    "status": status_for(stage),
                    "grade": rng.choice(GRADES),
                    "tags": rng.sample(TAGS, rng.randrange(0, 3)),
                    "source": "展会",
                    "amount": amount,
                    "paid_amount": Decimal(0),
                    "lost_reason": "价格太高" if stage == LOST else "",
                    "created_at": created,
                    "stage_entered_at": entered,
                    "last_activity_at": last,
                    "next_follow_up_at": None if status_for(stage) != "open" else due,
                    "next_follow_up_has_time": rng.random() < 0.3,
                }
            )
        for start in range(0, len(rows), 5000):
            conn.execute(insert(Customer), rows[start : start + 5000])
        batch: list[dict[str, Any]] = []
        # A year of a busy team, per 1,000 entries: 800 follow-ups, 70 stage moves, 50
        # creations (one per customer), 15 wins, 30 payments, 15 losses, 20 tag changes.
        mix = {"follow_up": 800, "stage": 70, "create": 50, "won": 15, "payment": 30}
        mix |= {"lost": 15, "tags": 20}
        kinds = [kind for kind, n in mix.items() for _ in range(n)]
        for n in range(activities):
            k = rng.randrange(customers)
            kind = rng.choice(kinds)
            at = year_ago + timedelta(minutes=rng.randrange(365 * 24 * 60 - 60))
            s_from: str | None = None
            s_to: str | None = None
            amount = None
            changes: dict[str, Any] = {}
            if kind == "stage":
                i = rng.randrange(len(LADDER) - 1)
                s_from, s_to = LADDER[i].value, LADDER[i + 1].value
                changes = {"stage": [s_from, s_to]}
            elif kind == "won":
                s_from, s_to = "已报价", "已签约"
                amount = Decimal(rng.randrange(1, 200) * 1000)
                changes = {"stage": [s_from, s_to], "amount": [None, str(amount)]}
            elif kind == "lost":
                s_from, s_to = "跟进中", LOST
                changes = {"stage": [s_from, s_to]}
            elif kind == "payment":
                amount = Decimal(rng.randrange(1, 50) * 1000)
                changes = {"paid_amount": ["0.00", f"{amount:.2f}"]}
            elif kind == "tags":
                changes = {"tags": [[], ["重点"]]}
            batch.append(
                {
                    "chat_id": 1,
                    "customer_id": k + 1,
                    "customer_name": f"客户{k:05d}有限公司",
                    "member_id": rng.randrange(1, REPS + 2),
                    "kind": kind,
                    "text": rng.choice(WORDS) if kind == "follow_up" else "",
                    "stage_from": s_from,
                    "stage_to": s_to,
                    "amount": amount,
                    "changes": changes,
                    "entry_key": f"bench:{n}",
                    "created_at": at,
                    "undone_at": at + timedelta(minutes=5) if rng.random() < 0.01 else None,
                }
            )
            if len(batch) >= 10000:
                conn.execute(insert(Activity), batch)
                batch = []
        if batch:
            conn.execute(insert(Activity), batch)
        conn.execute(
            insert(JobRun),
            [
                {
                    "job": "stalled_deals#item",
                    "chat_id": 1,
                    "period": f"c{k + 1}:{rows[k]['stage']}:{rows[k]['last_activity_at'].astimezone(TZ):%Y%m%d%H%M%S}:L1",
                    "created_at": NOW - timedelta(days=1),
                }
                for k in range(0, customers, 13)
            ],
        )


def measure(client: Any, path: str, requests: int, counter: dict[str, int]) -> dict[str, Any]:
    """Median and p95 server time (ms), SQL statements and size of ``requests`` GETs."""
    times, statements = [], []
    body = b""
    client.get(path)  # warm: templates compiled, caches filled
    for _ in range(requests):
        before = counter["n"]
        begin = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - begin) * 1000)
        statements.append(counter["n"] - before)
        assert response.status_code == 200, (path, response.status_code)
        body = response.data
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return {
        "median": statistics.median(times),
        "p95": p95,
        "sql": max(statements),
        "raw": len(body),
        "gzip": len(gzip.compress(body)),
    }


def static_weight(client: Any) -> tuple[int, int]:
    """Bytes of the board's CSS and scripts as sent with and without gzip."""
    from bot.board import _static_files

    raw = zipped = 0
    for name in _static_files():
        plain = client.get(f"/board/static/{name}")
        raw += len(plain.data)
        packed = client.get(f"/board/static/{name}", headers={"Accept-Encoding": "gzip"})
        zipped += len(packed.data)
    return raw, zipped


def main() -> None:
    """Build the data, time every page, print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--activities", type=int, default=100000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument(
        "--db", help="database URL (default: a new SQLite file); PostgreSQL gets a private schema"
    )
    args = parser.parse_args()
    with bench_engine(args.db, "board") as engine:
        run_benchmark(engine, args)


def run_benchmark(engine: Engine, args: argparse.Namespace) -> None:
    """Populate, sign in as the manager and as a rep, time each page."""
    upgrade(engine)
    begin = time.perf_counter()
    populate(engine, args.customers, args.activities)
    print(
        f"data: 1 chat, {args.customers} customers, {args.activities} activities, "
        f"{REPS} reps ({time.perf_counter() - begin:.0f} s to insert), backend {engine.dialect.name}"
    )
    begin = time.perf_counter()
    sum(range(10**7))
    print(f"cpu reference: sum(range(10**7)) in {(time.perf_counter() - begin) * 1000:.0f} ms")
    settings = Settings()
    settings.board.secret = SECRET
    runtime = Runtime(settings, engine=engine, clock=lambda: NOW)
    app = create_app(settings, runtime)
    counter = {"n": 0}
    event.listen(
        engine, "before_cursor_execute", lambda *a: counter.__setitem__("n", counter["n"] + 1)
    )
    pages = [
        ("pipeline", "/board/t/1/"),
        ("pipeline, filtered", "/board/t/1/?grade=A&tag=重点&overdue=1"),
        ("funnel", "/board/t/1/funnel"),
        ("late", "/board/t/1/late"),
        ("customer", "/board/t/1/customer/{mine}"),
        ("pipeline .xlsx", "/board/t/1/pipeline.xlsx"),
        ("late .xlsx", "/board/t/1/late.xlsx"),
    ]
    for who, member_id in (("manager", 1), ("rep", 2)):
        client = app.test_client()
        claims = Claims(1, member_id, 0, expiry(NOW.astimezone(UTC), 24))
        opened = client.get(f"/board/open?t={sign(SECRET, claims, LINK)}")
        assert opened.status_code == 303, opened.data[:300]
        print(f"\nas the {who} ({'whole book' if member_id == 1 else 'own customers'}):")
        print(f"  {'page':<20} {'median':>8} {'p95':>8} {'SQL':>4} {'HTML':>9} {'gzip':>8}")
        with runtime.sessions() as session:
            mine = session.scalars(
                select(Customer.id).where(Customer.owner_id == 2).order_by(Customer.id)
            ).first()
        for name, path in pages:
            m = measure(client, path.format(mine=mine), args.requests, counter)
            print(
                f"  {name:<20} {m['median']:>6.1f}ms {m['p95']:>6.1f}ms {m['sql']:>4} "
                f"{m['raw'] / 1024:>7.1f}KB {m['gzip'] / 1024:>6.1f}KB"
            )
    raw, zipped = static_weight(app.test_client())
    print(
        f"\nstatic (CSS, charts.js, ECharts; cached for a year): {raw / 1024:.0f} KB, "
        f"{zipped / 1024:.0f} KB with gzip"
    )
    print(
        f"reproduce: .venv/bin/python -m bench.board --customers {args.customers} "
        f"--activities {args.activities} --requests {args.requests}"
        + (f" --db {args.db}" if args.db else "")
    )


if __name__ == "__main__":
    main()
