"""The job table declares each scheduled job once: config, /设置, help and docs follow from a row."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.config import ConfigError, load_settings
from bot.messages import OutgoingMessage
from bot.runtime import Runtime
from bot.scheduler import tick
from handlers.jobs import table
from handlers.jobs.base import JobContext
from handlers.jobs.table import Job
from models import Chat
from tests.support.harness import TZ, ChatHarness

ROOT = Path(__file__).resolve().parent.parent


def doc_problems(jobs: tuple[Job, ...]) -> list[str]:
    """What config.example.toml and README.md fail to say about ``jobs`` (empty: all documented)."""
    example = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    section = example.split("\n[jobs]\n", 1)[1].split("\n[", 1)[0].splitlines()
    readme_rows = [
        line
        for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("|")
    ]
    (off,) = [line for line in section if line.startswith("# Jobs to turn off everywhere:")]
    problems = []
    for job in jobs:
        if f" {job.name}" not in off:
            problems.append(f"config.example.toml: jobs.disabled comment lacks {job.name}")
        if job.time_key:
            setting = f'{job.time_key} = "{job.default}"'
            documented = [
                line
                for line in section
                if line.startswith(setting) and f"# {job.name}:" in line and job.title in line
            ]
        else:
            documented = [line for line in section if f"# {job.name} ({job.title})" in line]
        if not documented:
            problems.append(f"config.example.toml: [jobs] does not describe {job.name}")
        rows = [row for row in readme_rows if f"`{job.name}`" in row and job.title in row]
        if job.time_key:
            rows = [
                row
                for row in rows
                if f'`{job.time_key} = "{job.default}"`' in row
                and f"`/设置 {job.time_words[0]}`" in row
            ]
        if len(rows) != 1:
            problems.append(f"README.md: the jobs table has no row for {job.name}")
    return problems


def test_config_example_and_readme_list_every_job_with_its_key_and_default():
    assert doc_problems(table.JOBS) == []


def cheer(ctx: JobContext) -> list[OutgoingMessage]:
    """A made-up job for the tests below."""
    return [OutgoingMessage(f"🍱 午间播报 {ctx.now:%H:%M}")]


NEW_ROW = Job(
    "noon_cheer",
    "午间播报",
    table.daily,
    cheer,
    words=("播报",),
    time_key="cheer_time",
    default="12:00",
    time_words=("播报时间",),
)


def test_a_row_added_without_docs_is_caught():
    assert doc_problems((*table.JOBS, NEW_ROW)) == [
        "config.example.toml: jobs.disabled comment lacks noon_cheer",
        "config.example.toml: [jobs] does not describe noon_cheer",
        "README.md: the jobs table has no row for noon_cheer",
    ]


def test_every_row_is_consistent():
    names = [job.name for job in table.JOBS]
    assert len(set(names)) == len(names)
    words = [word for job in table.JOBS for word in (*job.switch_words, *job.time_words)]
    assert len(set(words)) == len(words)
    for job in table.JOBS:
        timed = job.due in (table.daily, table.weekly)
        assert bool(job.time_key) == timed == bool(job.default) == bool(job.time_words), job.name


def test_settings_accept_every_jobs_words_and_help_names_them(chat):
    chat.make_manager("王经理")
    help_text = chat.reply("/帮助 设置")
    for job in table.JOBS:
        assert job.title in help_text
        for word in job.switch_words:
            assert chat.reply(f"/设置 关闭 {word}", as_="王经理") == f"✅ 已关闭{job.title}"
            assert f"已关闭：{job.title}" in chat.reply("/设置")
            assert chat.reply(f"/设置 开启 {word}", as_="王经理") == f"✅ 已开启{job.title}"
        if not job.time_key:
            continue
        assert f"{job.time_words[0]} {job.default}" in help_text
        assert f"{job.title} {job.default}" in chat.reply("/设置")
        for word in job.time_words:
            assert chat.reply(f"/设置 {word} 08:15", as_="王经理") == f"✅ {word}改为 08:15"
            assert f"{job.title} 08:15" in chat.reply("/设置")
        with chat.runtime.sessions() as session:
            assert session.scalars(select(Chat.settings)).one()[job.time_key] == "08:15"


def test_a_new_row_is_configurable_scheduled_and_in_settings(monkeypatch, engine, clock):
    monkeypatch.setattr(table, "JOBS", (*table.JOBS, NEW_ROW))
    variable = f"GENJIN_JOBS_{NEW_ROW.time_key.upper()}"  # a setting only while the row exists
    with pytest.raises(ConfigError, match="jobs.cheer_time"):
        load_settings(env={variable: "25:00"})
    settings = load_settings(env={variable: "12:30", "GENJIN_JOBS_DISABLED": "noon_cheer"})
    assert settings.jobs.time("cheer_time") == "12:30"
    assert settings.jobs.disabled == ["noon_cheer"]
    settings = load_settings(env={variable: "12:30"})
    settings.bot.admins = ["老板"]
    chat = ChatHarness(Runtime(settings, engine=engine, clock=clock), clock)
    chat.make_manager("王经理")

    def cheered(month: int, day: int, hh: int, mm: int) -> list[str]:
        clock.now = datetime(2026, month, day, hh, mm, tzinfo=TZ)
        posted = tick(chat.runtime, clock.now)
        return [p.job for p in posted if p.job == "noon_cheer"]

    assert cheered(11, 27, 12, 29) == []
    assert cheered(11, 27, 12, 30) == ["noon_cheer"]  # Friday, at the configured time
    assert cheered(11, 27, 12, 45) == []  # once a day
    assert "午间播报 12:30" in chat.reply("/设置")
    assert chat.reply("/设置 播报时间 13:00", as_="王经理") == "✅ 播报时间改为 13:00"
    assert cheered(11, 30, 12, 30) == []  # Monday: the chat's own time now
    assert cheered(11, 30, 13, 0) == ["noon_cheer"]
    assert chat.reply("/设置 关闭 播报", as_="王经理") == "✅ 已关闭午间播报"
    assert cheered(12, 1, 13, 0) == []
