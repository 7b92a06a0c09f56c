"""Benchmark: building the daily digests for many chats, against the floor of one aggregate query.

Data: --chats chats (default 1,000), each with 20 reps, 300 customers and 30 days of activity
(about 20 entries a working day), inserted in bulk. Then, for the last day:
  * genjin — build_digest(ctx, day) for every chat (what the scheduler runs at 18:00), counting the
    SQL statements each chat needs;
  * floor  — ONE aggregate query over the same data: today's activity per chat and rep, by kind,
    with the won and payment sums (the figures a digest's table shows).

Reproduce:  .venv/bin/python -m bench.digest [--chats 1000] [--db URL]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import event, func, insert, select

from bench.benchdb import bench_engine
from bot.config import Settings
from handlers.jobs.base import job_context
from handlers.jobs.digest import build_digest
from models import Activity, Chat, Customer, Member
from models.db import make_session_factory, upgrade
from models.stages import LADDER

TZ = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 27)  # a Friday
KINDS = ["follow_up"] * 8 + ["stage", "payment", "won", "create"]


def populate(engine, chats: int, seed: int = 7) -> None:
    """Bulk-insert the data set (Core inserts; ORM objects would dominate the set-up time)."""
    rng = random.Random(seed)
    start = datetime(2026, 10, 29, 9, tzinfo=TZ)
    with engine.begin() as conn:
        conn.execute(
            insert(Chat),
            [
                {
                    "id": c + 1,
                    "platform": "console",
                    "external_id": f"chat{c}",
                    "name": f"销售{c}组",
                    "tenant_key": "",
                    "timezone": "Asia/Shanghai",
                    "settings": {},
                    "created_at": start,
                }
                for c in range(chats)
            ],
        )
        members, customers = [], []
        for c in range(chats):
            for r in range(20):
                members.append(
                    {
                        "id": c * 20 + r + 1,
                        "chat_id": c + 1,
                        "user_id": f"u{r}",
                        "name": f"销售{r}",
                        "role": "manager" if r == 0 else "rep",
                        "created_at": start,
                    }
                )
        conn.execute(insert(Member), members)
        for c in range(chats):
            for k in range(300):
                stage = rng.choice(LADDER[:6])
                entered = start + timedelta(days=rng.randrange(30))
                last = entered + timedelta(days=rng.randrange(5))
                due = DAY + timedelta(days=rng.randrange(-6, 8))
                customers.append(
                    {
                        "id": c * 300 + k + 1,
                        "chat_id": c + 1,
                        "name": f"客户{k:03d}",
                        "key": f"客户{k:03d}",
                        "aliases": [],
                        "owner_id": c * 20 + rng.randrange(20) + 1,
                        "stage": stage,
                        "status": "won" if stage in ("已签约", "已回款") else "open",
                        "grade": "",
                        "source": "",
                        "amount": Decimal(rng.randrange(1, 100) * 1000),
                        "paid_amount": Decimal(0),
                        "lost_reason": "",
                        "created_at": start,
                        "stage_entered_at": entered,
                        "last_activity_at": last,
                        "next_follow_up_at": datetime(due.year, due.month, due.day, tzinfo=TZ),
                        "next_follow_up_has_time": False,
                    }
                )
                if len(customers) >= 20000:
                    conn.execute(insert(Customer), customers)
                    customers = []
        if customers:
            conn.execute(insert(Customer), customers)
        batch = []
        for c in range(chats):
            for d in range(30):
                day = start + timedelta(days=d)
                if day.weekday() >= 5:
                    continue
                for _ in range(20):
                    kind = rng.choice(KINDS)
                    k = rng.randrange(300)
                    batch.append(
                        {
                            "chat_id": c + 1,
                            "customer_id": c * 300 + k + 1,
                            "customer_name": f"客户{k:03d}",
                            "member_id": c * 20 + rng.randrange(20) + 1,
                            "kind": kind,
                            "text": "拜访",
                            "stage_from": "跟进中" if kind == "stage" else None,
                            "stage_to": "已报价" if kind == "stage" else None,
                            "amount": Decimal(rng.randrange(1, 50) * 1000)
                            if kind in ("payment", "won")
                            else None,
                            "changes": {},
                            "entry_key": f"b:{c}:{d}:{rng.random()}",
                            "created_at": day + timedelta(minutes=rng.randrange(540)),
                        }
                    )
                if len(batch) >= 20000:
                    conn.execute(insert(Activity), batch)
                    batch = []
        if batch:
            conn.execute(insert(Activity), batch)


def floor_query(session) -> tuple[float, int]:
    """The one aggregate query: today's figures per chat and rep."""
    start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=TZ).astimezone(UTC)
    end = start + timedelta(days=1)
    query = (
        select(
            Activity.chat_id,
            Activity.member_id,
            Activity.kind,
            func.count(),
            func.coalesce(func.sum(Activity.amount), 0),
        )
        .where(
            Activity.created_at >= start, Activity.created_at < end, Activity.undone_at.is_(None)
        )
        .group_by(Activity.chat_id, Activity.member_id, Activity.kind)
    )
    begin = time.perf_counter()
    rows = session.execute(query).all()
    return time.perf_counter() - begin, len(rows)


def main() -> None:
    """Build the data, time both, print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument(
        "--db", help="database URL (default: a new SQLite file); PostgreSQL gets a private schema"
    )
    args = parser.parse_args()
    with bench_engine(args.db, "digest") as engine:
        run_benchmark(engine, args)


def run_benchmark(engine, args: argparse.Namespace) -> None:
    """Populate, build every digest, run the floor query, print the figures."""
    upgrade(engine)
    begin = time.perf_counter()
    populate(engine, args.chats)
    print(
        f"data: {args.chats} chats × 20 reps × 300 customers × 30 days "
        f"({time.perf_counter() - begin:.0f} s to insert), backend {engine.dialect.name}"
    )
    statements = {"n": 0}
    event.listen(
        engine,
        "before_cursor_execute",
        lambda *a: statements.__setitem__("n", statements["n"] + 1),
    )
    sessions = make_session_factory(engine)
    settings = Settings()
    now = datetime(DAY.year, DAY.month, DAY.day, 18, tzinfo=TZ)
    per_chat, counts, sizes = [], [], []
    total_start = time.perf_counter()
    for chat_id in range(1, args.chats + 1):
        with sessions() as session:
            chat = session.get(Chat, chat_id)
            before, t0 = statements["n"], time.perf_counter()
            ctx = job_context(session, chat, now, settings, job="daily_digest")
            messages = build_digest(ctx, DAY)
            per_chat.append(time.perf_counter() - t0)
            counts.append(statements["n"] - before)
            sizes.append(
                sum(
                    len(m.text)
                    + sum(len(" ".join(s.lines)) for s in (m.card.sections if m.card else []))
                    for m in messages
                )
            )
    total = time.perf_counter() - total_start
    with sessions() as session:
        floor, groups = floor_query(session)
    print(
        f"genjin: {args.chats} digests in {total:.2f} s "
        f"({total / args.chats * 1000:.1f} ms per chat, p99 {statistics.quantiles(per_chat, n=100)[98] * 1000:.1f} ms), "
        f"{statistics.mean(counts):.1f} SQL statements per chat (max {max(counts)})"
    )
    print(
        f"floor: one aggregate query over the same data in {floor * 1000:.1f} ms ({groups} groups)"
    )
    print(
        f"ratio: genjin / floor = ×{total / floor:.0f}; average digest text {statistics.mean(sizes):.0f} chars"
    )
    print(
        f"reproduce: .venv/bin/python -m bench.digest --chats {args.chats}"
        + (f" --db {args.db}" if args.db else "")
    )


if __name__ == "__main__":
    main()
