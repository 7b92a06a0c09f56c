"""The `genjin` command line run in this process, as a team would drive it in a test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main


class GenjinCli:
    """`genjin` on one database with one config.toml; ``say`` replays a day of one chat."""

    def __init__(
        self,
        db: str,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        config: str,
        chat: str,
    ) -> None:
        self.db, self.tmp_path, self.capsys, self.chat = db, tmp_path, capsys, chat
        self.config = tmp_path / "config.toml"
        self.config.write_text(config, encoding="utf-8")
        self.scripts = 0

    def run(self, *args: str) -> str:
        """Run one command; its standard output (it must succeed)."""
        self.capsys.readouterr()
        code = main([*args, "--db", self.db, "--config", str(self.config)])
        out = self.capsys.readouterr()
        assert code == 0, out.err
        return out.out

    def say(self, day: str, *lines: tuple[str, str, str]) -> list[str]:
        """Replay (time, who, text) lines of one day with `say --script`; one reply text each."""
        self.scripts += 1
        script = self.tmp_path / f"day{self.scripts}.jsonl"
        rows = [
            {"chat": self.chat, "as": who, "text": text, "at": f"{day}T{hhmm}"}
            for hhmm, who, text in lines
        ]
        script.write_text(
            "\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8"
        )
        out = [json.loads(line) for line in self.run("say", "--script", str(script)).splitlines()]
        assert len(out) == len(rows)
        return ["\n".join(r["text"] for r in o["replies"]) for o in out]
