"""`genjin serve | web | worker | say | tick | digest | export | import | board-link | db`.

Heavy imports are lazy, so `genjin --help` and `genjin say` start fast.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.config import ConfigError, Settings, load_settings, mask_url

log = logging.getLogger("genjin")


class StartupError(Exception):
    """The environment stops a command (port taken, driver missing): one line, exit code 1."""


class _Parser(argparse.ArgumentParser):
    """argparse with its errors as one line (``genjin: … (see genjin say --help)``), no usage."""

    def error(self, message: str) -> Any:
        """Print one line naming the problem and where help is, then exit 2."""
        self.exit(2, f"genjin: {message} (see {self.prog} --help)\n")


def _settings(args: argparse.Namespace) -> Settings:
    """Settings from --config / GENJIN_CONFIG / ./config.toml, then env, then --db."""
    path = args.config or os.environ.get("GENJIN_CONFIG")
    if path is None and Path("config.toml").is_file():
        path = "config.toml"
    return load_settings(path, db_url=args.db)


def _runtime(settings: Settings, clock: Any = None, migrate: bool = True) -> Any:
    """A Runtime, migrated unless ``migrate`` is False (its driver checked first)."""
    from bot.runtime import Runtime
    from models.board_link import stored_secret

    _check_driver(settings)
    with _creating_database(settings):
        runtime = Runtime(settings, clock=clock)
    if migrate:
        runtime.migrate()
    if not settings.board.secret:  # board.secret, once `genjin serve` made it (SQLite)
        settings.board.secret = stored_secret(runtime.engine) or ""
    return runtime


def _check_driver(settings: Settings) -> None:
    """The database.url's Python driver can be imported; else one line naming what to install."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.database.url)
    dialect = url.get_dialect()
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        missing = exc.name or dialect.driver
        if url.get_backend_name() == "postgresql" and dialect.driver == "psycopg":
            fix = "install it with pip install 'genjin[postgres]'"
        else:
            fix = "use postgresql+psycopg://… with pip install 'genjin[postgres]', or sqlite:///…"
        raise StartupError(
            f"database.url {mask_url(settings.database.url)!r} needs the Python package "
            f"{missing!r}, which is not installed; {fix}"
        ) from None


@contextmanager
def _creating_database(settings: Settings) -> Iterator[None]:
    """An SQLite file or directory that cannot be created is one line naming it (exit 1)."""
    try:
        yield
    except OSError as exc:
        raise StartupError(
            f"database.url {mask_url(settings.database.url)!r}: cannot create "
            f"{exc.filename or 'the database file'} ({exc.strerror or exc}); "
            "choose a writable path"
        ) from None


def _database_shown(engine: Any) -> str:
    """The engine's URL for logs: password masked (also one given as a query parameter)."""
    return mask_url(engine.url.render_as_string(hide_password=False))


def _local_time(text: str, settings: Settings) -> datetime:
    """An ISO local time in the chat time zone (an explicit offset is honoured)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--at: {text!r} is not an ISO time such as 2026-11-27T10:00") from None
    return value if value.tzinfo else value.replace(tzinfo=settings.tz)


# -- say ---------------------------------------------------------------------------------------
def _say_one(
    runtime: Any,
    settings: Settings,
    chat: str,
    sender: str,
    text: str,
    at: str | None,
    message_id: str | None,
) -> list[dict[str, Any]] | None:
    """One line through the pipeline; replies as JSON-able dicts, or None for a redelivery."""
    from bot.adapters.console import render_text

    when = _local_time(at, settings) if at else None
    if when is None:
        from bot.runtime import system_clock

        runtime.clock = system_clock
    replies = runtime.say(chat, sender, text, at=when, message_id=message_id)
    if replies is None:
        return None
    return [
        {"text": render_text(out), "mentions": [m.name or m.user_id for m in out.mentions]}
        for out in replies
    ]


def _read_script(path: str) -> list[str]:
    """The lines of a ``say --script`` file; a missing or unreadable file is one line, exit 2."""
    try:
        return Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ConfigError(
            f"--script: file {path} not found (give a JSON-lines file: chat, as, text per line)"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"--script: {path} is not UTF-8 text; save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"--script: cannot read {path}: {exc.strerror or exc}") from None


def cmd_say(args: argparse.Namespace) -> int:
    """Talk to the bot as a chat member."""
    settings = _settings(args)
    lines = _read_script(args.script) if args.script else []
    runtime = _runtime(settings)
    if args.script:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                chat, sender, text = item["chat"], item["as"], item["text"]
            except (ValueError, KeyError, TypeError):
                raise ConfigError(
                    f"--script: line {number} must be JSON with keys chat, as, text"
                ) from None
            replies = _say_one(
                runtime,
                settings,
                str(chat),
                str(sender),
                str(text),
                item.get("at"),
                item.get("message_id"),
            )
            out = {
                "chat": chat,
                "as": sender,
                "text": text,
                "duplicate": replies is None,
                "replies": replies or [],
            }
            print(json.dumps(out, ensure_ascii=False), flush=True)
        return 0
    if not (args.chat and args.as_ and args.text):
        raise ConfigError("say: give --chat, --as and TEXT, or --script FILE")
    replies = _say_one(
        runtime, settings, args.chat, args.as_, " ".join(args.text), args.at, args.message_id
    )
    if args.json:
        print(json.dumps(replies or [], ensure_ascii=False))
    elif replies is None:
        print("（重复的消息，已忽略）", file=sys.stderr)
    else:
        for reply in replies:
            print(reply["text"])
    return 0


# -- export / import ---------------------------------------------------------------------------
def cmd_export(args: argparse.Namespace) -> int:
    """Write the book: JSON (customers and activities), .xlsx (three sheets) or .csv (客户)."""
    from bot.export import book, export, write_csv, write_xlsx
    from models.db import private_dir, private_file

    if args.format == "xlsx" and not args.output:
        raise ConfigError("export --format xlsx: give the file to write, e.g. --output 客户.xlsx")
    settings = _settings(args)
    runtime = _runtime(settings)
    output = Path(args.output) if args.output else None
    with runtime.sessions() as session:
        if args.format == "json":
            data = export(session, args.chat)
            sheets = None
        else:
            data = None
            sheets = book(session, args.chat)
    if data is None and sheets is None:
        raise ConfigError(f"--chat: no chat named {args.chat!r}")
    if output is not None:
        private_dir(output.parent)
        private_file(output)  # 0600: the book is the team's customer list
    if sheets is not None and output is not None and args.format == "xlsx":
        write_xlsx(sheets, output)
    elif sheets is not None and output is not None:
        with output.open("w", encoding="utf-8-sig", newline="") as out:
            write_csv(sheets["客户"], out)
    elif sheets is not None:
        write_csv(sheets["客户"], sys.stdout)
    else:
        text = json.dumps(data, ensure_ascii=False, indent=1 if args.pretty else None)
        if output is None:
            print(text)
        else:
            output.write_text(text + "\n", encoding="utf-8")
    if output is not None:
        print(f"exported: {output}", file=sys.stderr)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """Import a customer book (.xlsx or .csv) into a chat: preview, then one transaction."""
    from bot.scheduler import chat_by_name
    from models.book import import_book, members_named
    from models.book_headers import MapError, parse_overrides
    from models.book_read import BookError, read_book

    try:
        overrides = parse_overrides(args.map or [])
    except MapError as exc:
        raise ConfigError(str(exc)) from None
    path = Path(args.file)
    try:
        sheets = read_book(path)
    except BookError as exc:
        raise ConfigError(f"import: {exc}") from None
    settings = _settings(args)
    runtime = _runtime(settings)
    with runtime.sessions() as session:
        chat = chat_by_name(session, args.chat)
        if chat is None:
            raise ConfigError(
                f"--chat: no chat named {args.chat!r} (the bot learns a chat from its first "
                "message; say something in it first)"
            )
        actor = None
        if args.as_:
            found = members_named(session, chat, args.as_)
            if len(found) != 1:
                raise ConfigError(
                    f"--as: no single member named {args.as_!r} in chat {args.chat!r}"
                )
            actor = found[0]
        try:
            report = import_book(
                session,
                chat,
                sheets,
                runtime.clock(),
                file=path.name,
                sheet=args.sheet,
                overrides=overrides,
                actor=actor,
                grades=tuple(settings.book.grades),
            )
        except BookError as exc:
            session.rollback()
            raise ConfigError(f"import: {exc}") from None
        print(f"导入预览 → 群“{chat.name or chat.external_id}”")
        print("\n".join(report.lines()))
        if args.dry_run:
            session.rollback()
            print("试运行（--dry-run）：没有写入任何数据")
        else:
            session.commit()
            print("已导入")
    return 0


# -- tick / digest -----------------------------------------------------------------------------
def cmd_tick(args: argparse.Namespace) -> int:
    """Run every job due now (or --at), deliver, print what was posted; cron-friendly."""
    from bot.adapters.console import render_text
    from bot.scheduler import posted_messages, tick

    settings = _settings(args)
    at = _local_time(args.at, settings) if args.at else None
    runtime = _runtime(settings, clock=(lambda: at) if at else None)
    posted = tick(runtime, runtime.clock())
    runtime.drain()
    for item, message, _status in posted_messages(runtime, posted):
        text = render_text(message)
        if args.json:
            mentions = [m.name or m.user_id for m in message.mentions]
            line = {
                "chat": item.chat,
                "platform": item.platform,
                "job": item.job,
                "text": text,
                "mentions": mentions,
            }
            print(json.dumps(line, ensure_ascii=False), flush=True)
        else:
            print(f"[{item.chat} · {item.job}]\n{text}\n", flush=True)
    return 0


def cmd_digest(args: argparse.Namespace) -> int:
    """Print (or post) a chat's daily digest, built exactly as the scheduler builds it."""
    from bot.adapters.console import render_text
    from bot.outbox import enqueue
    from bot.scheduler import JOBS_BY_NAME, chat_by_name
    from handlers.jobs.base import job_context

    settings = _settings(args)
    at = _local_time(args.at, settings) if args.at else None
    runtime = _runtime(settings, clock=(lambda: at) if at else None)
    now = runtime.clock()
    with runtime.sessions() as session, session.begin():
        chat = chat_by_name(session, args.chat)
        if chat is None:
            raise ConfigError(f"--chat: no chat named {args.chat!r}")
        ctx = job_context(session, chat, now, settings, job="daily_digest")
        messages = JOBS_BY_NAME["daily_digest"].build(ctx)
        if args.send:
            enqueue(
                session,
                chat.platform,
                chat.external_id,
                messages,
                key_base=f"digest-manual:{chat.platform}:{chat.external_id}:{now.isoformat()}",
                now=now,
                job="daily_digest",
            )
    if args.send:
        runtime.drain()
    for message in messages:
        print(render_text(message))
    return 0


# -- board-link --------------------------------------------------------------------------------
def cmd_board_link(args: argparse.Namespace) -> int:
    """Print a member's board link, as /看板 would send it (the secret is never printed)."""
    from sqlalchemy import select

    from bot.board.access import effective_role, is_team_chat
    from models.board_link import LINK, Claims, expiry, lifetime_words, sign
    from models.chat import Chat
    from models.member import ROLE_NAMES, Member

    settings = _settings(args)
    at = _local_time(args.at, settings) if args.at else None
    runtime = _runtime(settings, clock=(lambda: at) if at else None)
    if not settings.board.secret:
        raise ConfigError(
            "board-link: the board is off; set [board] secret (32+ characters, or "
            "GENJIN_BOARD_SECRET), or start genjin serve once on SQLite to generate board.secret"
        )
    now = runtime.clock()
    with runtime.sessions() as session:
        query = select(Chat).where((Chat.external_id == args.chat) | (Chat.name == args.chat))
        if args.platform:
            query = query.where(Chat.platform == args.platform)
        chats = [c for c in session.scalars(query.order_by(Chat.id)) if is_team_chat(c)]
        if not chats:
            where = f" on {args.platform}" if args.platform else ""
            raise ConfigError(f"--chat: no team chat named {args.chat!r}{where}")
        if len({c.platform for c in chats}) > 1:
            platforms = ", ".join(sorted({c.platform for c in chats}))
            raise ConfigError(
                f"--chat: {args.chat!r} names chats on several platforms ({platforms}); "
                "add --platform"
            )
        chat = chats[0]
        members = session.scalars(
            select(Member)
            .where(
                Member.chat_id == chat.id, (Member.name == args.as_) | (Member.user_id == args.as_)
            )
            .order_by(Member.id)
        ).all()
        if len(members) != 1:
            problem = "no member" if not members else f"{len(members)} members"
            raise ConfigError(
                f"--as: {problem} named {args.as_!r} in chat {args.chat!r} (a display name or a "
                "platform user id; the member must have written in the chat once)"
            )
        member = members[0]
        hours = settings.board.link_ttl_hours
        claims = Claims(chat.id, member.id, member.board_epoch, expiry(now, hours))
        role = ROLE_NAMES[effective_role(settings, member)]
    print(f"{settings.server.base_url()}/board/open?t={sign(settings.board.secret, claims, LINK)}")
    print(f"{member.display}（{role}）· {lifetime_words(hours)}内有效", file=sys.stderr)
    return 0


# -- db ----------------------------------------------------------------------------------------
def cmd_db(args: argparse.Namespace) -> int:
    """Schema migrations, an online backup of an SQLite database, purge and vacuum."""
    from models.db import current_revision, make_engine, upgrade

    settings = _settings(args)
    _check_driver(settings)
    with _creating_database(settings):
        engine = make_engine(settings.database.url)
    if args.action == "backup":
        return _backup(engine, args.target)
    if args.action in ("purge", "vacuum"):
        return _db_maintenance(engine, settings, args)
    if args.action == "upgrade":
        upgrade(engine)
    print(f"schema revision: {current_revision(engine) or 'none'}")
    return 0


def _backup(engine: Any, target: str | None) -> int:
    """Copy a live SQLite database consistently (SQLite's online backup API), as a 0600 file."""
    import sqlite3

    from models.db import private_dir, private_file

    if engine.dialect.name != "sqlite":
        raise ConfigError(
            "db backup: for PostgreSQL use its own tools (pg_dump), see docs/operations.md"
        )
    if not target:
        raise ConfigError(
            "db backup: give the file to write, e.g. genjin db backup backup/genjin-2026-11-27.db"
        )
    private_dir(Path(target).parent)
    private_file(Path(target))
    source = sqlite3.connect(engine.url.database)
    destination = sqlite3.connect(target)
    try:
        with destination:
            source.backup(destination)
    finally:
        destination.close()
        source.close()
    print(f"backup written: {target}")
    return 0


def _db_maintenance(engine: Any, settings: Settings, args: argparse.Namespace) -> int:
    """`db purge`: delete pipeline rows past pipeline.retention_days; `db vacuum`: reclaim space."""
    from bot.retention import purge, vacuum
    from models.db import make_session_factory, upgrade

    if args.action == "vacuum":
        print(vacuum(engine))
        return 0
    upgrade(engine)
    if args.at:
        now = _local_time(args.at, settings)
    else:
        from bot.runtime import system_clock

        now = system_clock()
    days = settings.pipeline.retention_days
    purged = purge(make_session_factory(engine), now, days)
    print(f"purged rows older than {days} days: {purged}")
    return 0


# -- serve -------------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    """Web server, workers, scheduler (and the Feishu long connection) in one process."""
    from bot.app import create_app

    settings = _settings(args)
    if args.host:
        settings.server.host = args.host
    if args.port:
        settings.server.port = args.port
    lock = _single_process(settings, "serve")
    runtime = _runtime(settings, migrate=False)
    app = create_app(settings, runtime, board_secret=False)
    server = _listen(app, settings, "serve")  # a taken port stops us before anything starts
    runtime.migrate()
    from bot.board.access import load_secret

    load_secret(settings, runtime.engine, create=True)  # board.secret on SQLite, once bound
    runtime.start()
    address = f"http://{settings.server.host}:{server.effective_port}/"
    log.info("genjin serving on %s (database: %s)", address, _database_shown(runtime.engine))
    print(f"health check: {address}healthz", flush=True)
    if settings.sandbox_enabled():  # last, so the address to open is the last line on screen
        print(f"跟进助手已启动 · sandbox page / 本地试用页面: {address}", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        runtime.stop()
        del lock
    return 0


def _single_process(settings: Settings, what: str) -> object | None:
    """SQLite serves one process: refuse web/worker, and a second `serve` on the same file."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.database.url)
    if url.get_backend_name() != "sqlite":
        return None
    if what != "serve":
        raise ConfigError(
            f"{what}: SQLite serves a single process; run `genjin serve`, or point database.url at "
            "PostgreSQL to run separate web and worker processes"
        )
    import fcntl

    from models.db import private_dir, private_file

    database = url.database or ""
    if not database or database == ":memory:":
        return None
    path = Path(database).expanduser()
    private_dir(path.parent)
    lock_path = Path(f"{path}.serve.lock")
    private_file(lock_path)
    handle = open(lock_path, "a")  # noqa: SIM115 - held for the process's lifetime
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise ConfigError(
            f"serve: another genjin process already serves {path}; SQLite serves a single process "
            "(use PostgreSQL to run several)"
        ) from None
    return handle


def _listen(app: Any, settings: Settings, what: str) -> Any:
    """The web server bound to server.host:port; a taken port is one line (exit 1), no traceback."""
    from bot.server import web_server

    host, port = settings.server.host, settings.server.port
    try:
        return web_server(app, settings)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(
                f"{what}: port {port} on {host} is already in use (another genjin or another "
                "program listens there); stop it, or choose another port with --port or server.port"
            ) from None
        if exc.errno == errno.EACCES:
            raise StartupError(
                f"{what}: not allowed to listen on port {port} (ports below 1024 need root); "
                "use a port such as 8000 behind a reverse proxy"
            ) from None
        raise StartupError(
            f"{what}: cannot listen on {host}:{port} ({exc.strerror or exc}); "
            "check --host / server.host"
        ) from None
    except ValueError:  # waitress: a host name that does not resolve
        raise StartupError(
            f"{what}: cannot listen on {host}:{port} (unknown host); check --host / server.host"
        ) from None


def cmd_web(args: argparse.Namespace) -> int:
    """Only the web server (webhooks, health, metrics): PostgreSQL, with `genjin worker`s beside it."""
    from bot.app import create_app

    settings = _settings(args)
    if args.host:
        settings.server.host = args.host
    if args.port:
        settings.server.port = args.port
    _single_process(settings, "web")
    runtime = _runtime(settings, migrate=False)
    server = _listen(create_app(settings, runtime), settings, "web")
    runtime.migrate()
    runtime.prefetch()
    print(f"genjin web on http://{settings.server.host}:{server.effective_port}/", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Inbox and outbox workers, the scheduler and the Feishu long connection, without the web."""
    import signal
    import threading

    settings = _settings(args)
    _single_process(settings, "worker")
    runtime = _runtime(settings)
    runtime.start(poll=args.poll)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("genjin worker running", flush=True)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        runtime.stop()
    return 0


def _version() -> str:
    """The installed package's version (``genjin --version``)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("genjin")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed; run pip install -e .)"


def _add_global_options(parser: argparse.ArgumentParser, default: Any) -> None:
    """--db and --config, accepted before and after the command.

    The top-level parser gets ``default=None``; each command gets ``argparse.SUPPRESS``, so a
    value given before the command is not overwritten by the command's default.
    """
    parser.add_argument(
        "--db",
        default=default,
        metavar="URL",
        help="database URL, e.g. sqlite:///instance/genjin.db (default: GENJIN_DATABASE_URL, "
        "then database.url in the config)",
    )
    parser.add_argument(
        "--config",
        default=default,
        metavar="PATH",
        help="config.toml to read (default: GENJIN_CONFIG, then ./config.toml if present)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: global options before or after the command, help on every option."""
    parser = _Parser(
        prog="genjin",
        description="跟进 genjin — sales follow-up bot for Feishu and WeCom groups",
        epilog="--db and --config work before or after the command; "
        "see genjin COMMAND --help for a command's options.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {_version()}", help="print the version"
    )
    _add_global_options(parser, None)
    common = _Parser(add_help=False)
    _add_global_options(common, argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        """A subcommand with the global options, its summary shown in genjin --help."""
        return sub.add_parser(name, parents=[common], help=summary, description=summary)

    serve = command("serve", "run the bot (web, workers, scheduler) in one process")
    serve.add_argument("--host", help="address to listen on (default: server.host, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: server.port, 8000)")
    serve.set_defaults(func=cmd_serve)

    web = command("web", "only the web server (PostgreSQL; scale out beside genjin worker)")
    web.add_argument("--host", help="address to listen on (default: server.host, 127.0.0.1)")
    web.add_argument("--port", type=int, help="port to listen on (default: server.port, 8000)")
    web.set_defaults(func=cmd_web)

    worker = command("worker", "workers, scheduler and Feishu long connection, no web (PostgreSQL)")
    worker.add_argument(
        "--poll", type=float, default=0.25, help="idle poll interval in seconds (default: 0.25)"
    )
    worker.set_defaults(func=cmd_worker)

    say = command("say", "send a message as a chat member and print the replies")
    say.add_argument("--chat", help="chat id or name (created on first use)")
    say.add_argument("--as", dest="as_", metavar="NAME", help="the member who speaks")
    say.add_argument("--at", help="fix the clock: ISO local time in the chat time zone")
    say.add_argument("--message-id", help="platform message id (redeliver the same message)")
    say.add_argument("--json", action="store_true", help="print replies as a JSON array")
    say.add_argument("--script", help="JSON lines file: chat, as, text[, at, message_id]")
    say.add_argument("text", nargs="*", help="the message, e.g. /跟进 客户A 报价已发 明天回访")
    say.set_defaults(func=cmd_say)

    export = command("export", "write customers, activities and targets as JSON, .xlsx or .csv")
    export.add_argument("--chat", help="only this chat (id or name; default: all chats)")
    export.add_argument(
        "--format",
        choices=["json", "xlsx", "csv"],
        default="json",
        help="json (customers and activities), xlsx (sheets 客户, 跟进记录, 目标) or csv "
        "(the 客户 sheet, UTF-8 with BOM); default: json",
    )
    export.add_argument(
        "--output",
        metavar="FILE",
        help="file to write, created 0600 (default: stdout; xlsx needs it)",
    )
    export.add_argument("--pretty", action="store_true", help="indent the JSON")
    export.set_defaults(func=cmd_export)

    import_ = command("import", "import a customer book (.xlsx or .csv) into a chat")
    import_.add_argument("file", metavar="FILE", help="the .xlsx or .csv file (UTF-8 or GBK)")
    import_.add_argument("--chat", required=True, help="the chat to import into (id or name)")
    import_.add_argument(
        "--dry-run", action="store_true", help="show the preview and write nothing"
    )
    import_.add_argument(
        "--sheet", metavar="NAME", help="the sheet to read (default: 客户, else the first one)"
    )
    import_.add_argument(
        "--as",
        dest="as_",
        metavar="NAME",
        help="the member recorded as importing (default: nobody in particular)",
    )
    import_.add_argument(
        "--map",
        action="append",
        metavar="HEADER=FIELD",
        help="read a column as a field, e.g. --map '客户全称=name' (FIELD '-' ignores it); "
        "repeatable",
    )
    import_.set_defaults(func=cmd_import)

    tick = command("tick", "run the jobs due now and print what was posted (for cron)")
    tick.add_argument("--at", help="the moment to act as: ISO local time in the chat time zone")
    tick.add_argument("--json", action="store_true", help="one JSON line per posted message")
    tick.set_defaults(func=cmd_tick)

    digest = command("digest", "print (or post) a chat's daily digest")
    digest.add_argument("--chat", required=True, help="chat id or name")
    digest.add_argument("--at", help="ISO local time (default: now)")
    digest.add_argument("--send", action="store_true", help="post it to the chat as well")
    digest.set_defaults(func=cmd_digest)

    link = command("board-link", "print a member's link to the team's board (as /看板 sends it)")
    link.add_argument("--chat", required=True, help="team chat id or name")
    link.add_argument("--as", dest="as_", required=True, metavar="NAME", help="the member")
    link.add_argument("--platform", help="the chat's platform, when its name is on several")
    link.add_argument("--at", help="make it as of this ISO local time (default: now)")
    link.set_defaults(func=cmd_board_link)

    db = command("db", "database schema and maintenance")
    db.add_argument(
        "action",
        choices=["upgrade", "current", "backup", "purge", "vacuum"],
        help="upgrade the schema, show the current revision, back up SQLite to TARGET, "
        "purge rows past pipeline.retention_days, or vacuum",
    )
    db.add_argument("target", nargs="?", help="backup: the file to write")
    db.add_argument("--at", help="purge: the moment to act as (ISO local time; default now)")
    db.set_defaults(func=cmd_db)
    return parser


def configure_logging(command: str) -> None:
    """Log lines on stderr: INFO for `serve`, WARNING otherwise; libraries' routine chatter off.

    APScheduler logs every run of the once-a-minute heartbeat at INFO, and Alembic two lines
    about its SQL dialect on every start; only their warnings (and Alembic's upgrades) show.
    """
    logging.basicConfig(
        level=logging.INFO if command == "serve" else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    migration = logging.getLogger("alembic.runtime.migration")
    if not any(isinstance(f, _MigrationSteps) for f in migration.filters):
        migration.addFilter(_MigrationSteps())


class _MigrationSteps(logging.Filter):
    """Alembic's INFO lines that name a schema change ("Running upgrade 0004 -> 0005, …")."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep warnings and the upgrade steps, drop the per-start dialect lines."""
        return record.levelno > logging.INFO or record.getMessage().startswith("Running ")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `genjin` console script."""
    args = build_parser().parse_args(argv)
    configure_logging(args.command)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"genjin: {_one_line(exc)}", file=sys.stderr)
        return 2
    except StartupError as exc:
        print(f"genjin: {_one_line(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:
        from sqlalchemy.exc import OperationalError

        if isinstance(exc, OperationalError):
            print(
                f"genjin: database unreachable: {_one_line(exc.orig)} "
                "(check database.url and that the database server is running)",
                file=sys.stderr,
            )
            return 1
        if isinstance(exc, OSError):  # files and directories the command needs
            print(f"genjin: {_one_line(exc)} (check the path and its permissions)", file=sys.stderr)
            return 1
        from bot.runtime import ReplyTimeout

        if isinstance(exc, ReplyTimeout):  # `say`: no process answered in time
            print(f"genjin: {_one_line(exc)}", file=sys.stderr)
            return 1
        raise


def _one_line(exc: object) -> str:
    """An error message on one line (drivers like libpq add hint lines)."""
    return " ".join(str(exc).split())


if __name__ == "__main__":
    sys.exit(main())
