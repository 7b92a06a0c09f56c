"""/帮助 [命令]: help generated from the registry, so it can never drift from the code."""

from __future__ import annotations

from bot.messages import OutgoingMessage
from handlers import registry
from handlers.context import Context
from handlers.registry import Group, command
from models.parsing import sanitize_user_text


@command(
    "帮助",
    aliases=("bz", "help", "h", "?", "？", "命令"),
    usage="/帮助 [命令]",
    summary="查看全部命令，或某个命令的详细用法",
    example="/帮助 跟进",
    group=Group.VIEW,
)
def help_(ctx: Context, args: str) -> OutgoingMessage:
    """List commands, or explain one."""
    word = args.split()[0] if args.split() else ""
    if word:
        cmd = registry.get(word)
        if cmd is None:
            hint = registry.suggest(word.lstrip("/"))
            raise ctx.usage(
                f"没有 /{sanitize_user_text(word.lstrip('/'), 10)} 这个命令"
                + (f"，你是不是想问 /{hint}？" if hint else "")
            )
        aliases = "、".join(f"/{a}" for a in cmd.aliases)
        lines = [
            f"📖 {cmd.usage}",
            cmd.summary,
            f"例如：{cmd.example}",
            f"谁能用：{cmd.who}",
        ]
        if aliases:
            lines.append(f"简写：{aliases}")
        details = getattr(cmd.func, "help_lines", None)  # e.g. /等级: the configured meanings
        if details is not None:
            lines.extend(details(ctx))
        return OutgoingMessage("\n".join(lines))
    lines = ["📖 跟进助手命令（@我 后发送，斜杠可省略）："]
    for group in Group:
        lines.append(f"【{group.label}】")
        for cmd in registry.commands():
            if cmd.group == group:
                lines.append(f"{cmd.usage} — {cmd.summary}")
    lines.append(
        "📋 周五盘点：周报当天下午会 @有停滞或逾期客户的销售，每个客户回一行"
        "“序号（或客户名） 进展 下一步 日期”即按 /跟进 记录，例如：1 已发合同 下周二签约"
    )
    lines.append("发送 /帮助 命令名 查看详细用法，例如 /帮助 跟进")
    return OutgoingMessage("\n".join(lines))
