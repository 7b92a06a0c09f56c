"""/设置: roles (``/设置 经理 @某人``), the chat's schedule and limits, and a view of them all."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from bot.config import DEFAULT_STAGE_LIMITS, MAX_LEAD_MINUTES
from bot.messages import OutgoingMessage, Reply
from handlers.context import Context
from handlers.format import member_label
from handlers.grade_tags import grade_choices, grade_of
from handlers.jobs.base import NUDGE_MODE, PRIVATE_MODE, ChatSettings
from handlers.jobs.table import Job, by_name, timed
from handlers.registry import Group, command
from models.member import ROLE_MANAGER, ROLE_NAMES, ROLE_REP, Member
from models.parsing import sanitize_user_text, split_first
from models.stages import parse_stage_name

ROLE_WORDS = {
    "经理": ROLE_MANAGER,
    "主管": ROLE_MANAGER,
    "manager": ROLE_MANAGER,
    "销售": ROLE_REP,
    "rep": ROLE_REP,
    "取消经理": ROLE_REP,
}


LIMIT_KEYS = ("上班时间", "阶段时限", "未跟进天数", "响应时限", "提前提醒", "提醒方式")
NUDGE_WORDS = {"私聊": PRIVATE_MODE, "群里": "group", "群聊": "group"}
NO_PRIVATE = (
    "⚠️ 这个机器人现在不能单独私聊推送给某个人（企业微信需用长连接模式），"
    "早间提醒和响应时限提醒仍然发在群里"
)
TOGGLES = {"开启": True, "打开": True, "关闭": False}


def _time_words() -> dict[str, Job]:
    """/设置 words that change a job's time (日报时间 → the daily digest), from the job table."""
    return {word: job for job in timed() for word in job.time_words}


def _switch_words() -> dict[str, Job]:
    """Words /设置 开启|关闭 accepts for each job (日报, 早间提醒, 提醒, …), from the job table."""
    return {word: job for job in by_name() for word in job.switch_words}


def _summary() -> str:
    """The help text, with every job's time word, default and title from the job table."""
    times = "、".join(f"{job.time_words[0]} {job.default}" for job in timed())
    titles = "|".join(job.title for job in by_name())
    return (
        f"不带参数查看设置。管理员：经理/销售 @某人 设角色；经理：{times}、上班时间 09:00-18:00、"
        f"阶段时限 已报价 10（某等级单独设：阶段时限 已报价 A 5）、未跟进天数 3、响应时限 2、提前提醒 15（分钟）、"
        f"提醒方式 私聊|群里（早间提醒和响应时限提醒私聊发给每个销售，日报和升级仍在群里；默认群里）、"
        f"关闭/开启 {titles}"
    )


@command(
    "设置",
    aliases=("sz", "set", "settings"),
    usage="/设置 [项目 值]",
    summary=_summary(),
    example="/设置 经理 @王经理",
    who="角色：管理员；日程和时限：经理；查看：所有人",
    group=Group.MANAGE,
)
def settings(ctx: Context, args: str) -> OutgoingMessage:
    """Show settings, change the chat's schedule and limits, or change a member's role."""
    if not args:
        return _show(ctx).build()
    key, rest = split_first(args)
    if key in _time_words() or key in TOGGLES or key in LIMIT_KEYS:
        return OutgoingMessage(_schedule(ctx, key, rest))
    role = ROLE_WORDS.get(key.casefold())
    if role is None:
        known = [
            "经理",
            "销售",
            *(job.time_words[0] for job in timed()),
            *LIMIT_KEYS,
            "开启",
            "关闭",
        ]
        raise ctx.usage(
            f"不认识的设置项“{sanitize_user_text(key, 10)}”；可设置：{'、'.join(known)}"
        )
    ctx.require_admin("设置角色")
    members, _ = ctx.people(rest)
    if not members:
        raise ctx.usage("请 @ 要设置的人")
    reply = Reply()
    done = []
    for member in members:
        member.role = role
        done.append(ctx.mention(reply, member))
    reply.line(f"✅ 已将 {'、'.join(done)} 设为{ROLE_NAMES[role]}")
    if role == ROLE_MANAGER:
        reply.line("经理可以 /分配 客户、修改任何客户，并收到升级提醒")
    return reply.build()


_TIME = re.compile(r"^([01]?\d|2[0-3])[:：点]([0-5]\d)?$")


def _time(ctx: Context, text: str) -> str:
    """'18:00', '9:30', '18点' → 'HH:MM', or a usage error."""
    match = _TIME.match(text.strip())
    if not match:
        raise ctx.usage(f"时间“{sanitize_user_text(text, 10)}”看不懂，请写成 18:00 这样")
    return f"{int(match.group(1)):02d}:{match.group(2) or '00'}"


def _schedule(ctx: Context, key: str, rest: str) -> str:
    """Change one schedule or limit setting of this chat (managers and admins)."""
    ctx.require_manager("修改日程和时限")
    own = dict(ctx.chat.settings or {})
    timed_job = _time_words().get(key)
    if timed_job is not None:
        value = _time(ctx, rest)
        own[timed_job.time_key] = value
        done = f"{key}改为 {value}"
    elif key in TOGGLES:
        job = _switch_words().get(rest.strip())
        if job is None:
            raise ctx.usage("请写要开启或关闭的功能：" + "、".join(j.title for j in by_name()))
        own["jobs"] = {**own.get("jobs", {}), job.name: TOGGLES[key]}
        done = f"已{key}{job.title}"
    elif key == "上班时间":
        parts = re.split(r"\s*[-~到至—]\s*", rest.strip())
        if len(parts) != 2:
            raise ctx.usage("上班时间请写成 09:00-18:00")
        start, end = _time(ctx, parts[0]), _time(ctx, parts[1])
        if start >= end:
            raise ctx.usage("上班时间的开始要早于结束，例如 09:00-18:00")
        own["office_start"], own["office_end"] = start, end
        done = f"上班时间改为 {start}-{end}"
    elif key == "阶段时限":
        stage_word, days_text = split_first(rest)
        stage = parse_stage_name(stage_word) if stage_word else None
        if stage not in DEFAULT_STAGE_LIMITS:
            raise ctx.usage("请写阶段和天数，阶段可选：" + "、".join(DEFAULT_STAGE_LIMITS))
        grade_word, grade_days = split_first(days_text)
        grade = grade_of(ctx.settings.book.grades, grade_word) if grade_word else None
        if grade is None and re.fullmatch(r"[A-Za-z]级?", grade_word):
            raise ctx.usage(
                f"没有等级“{sanitize_user_text(grade_word, 4)}”，"
                f"可选：{grade_choices(ctx.settings.book.grades)}"
            )
        if grade is not None:
            done = _grade_limit(ctx, own, stage, grade, grade_days)
        else:
            days = _count(ctx, days_text, "天数")
            own["stage_limits"] = {**own.get("stage_limits", {}), stage: days}
            done = f"「{stage}」阶段超过 {days} 个工作日算停滞"
    elif key == "未跟进天数":
        days = _count(ctx, rest, "天数")
        own["quiet_days"] = days
        done = f"日报会列出 {days} 个工作日没有跟进的客户"
    elif key == "提醒方式":
        mode = NUDGE_WORDS.get(rest.strip())
        if mode is None:
            raise ctx.usage("提醒方式请写 私聊 或 群里，例如 /设置 提醒方式 私聊")
        if mode == PRIVATE_MODE and not ctx.settings.can_send_private(ctx.chat.platform):
            return NO_PRIVATE
        own[NUDGE_MODE] = mode
        done = (
            "早间提醒和响应时限提醒改为私聊发给每个销售（日报和升级提醒仍发在群里）"
            if mode == PRIVATE_MODE
            else "早间提醒和响应时限提醒发在群里"
        )
    elif key == "提前提醒":
        minutes = _lead_minutes(ctx, rest)
        own["lead_minutes"] = minutes
        done = f"约了具体时间的跟进提前 {minutes} 分钟提醒负责人"
    else:  # 响应时限
        hours = _count(ctx, rest.replace("小时", ""), "小时数")
        own["sla_hours"] = hours
        done = f"新分配的客户 {hours} 个工作小时内要有跟进"
    ctx.chat.settings = own
    return f"✅ {done}"


def _grade_limit(ctx: Context, own: dict[str, Any], stage: str, grade: str, text: str) -> str:
    """``阶段时限 已报价 A 5``: the stage's own limit for grade A (``默认`` removes it)."""
    limits = {g: dict(v) for g, v in own.get("grade_limits", {}).items()}
    by_stage = limits.setdefault(grade, {})
    if text.strip() in ("默认", "取消", "清除"):
        by_stage.pop(stage, None)
        done = f"{grade} 级客户的「{stage}」阶段时限恢复为全部客户的时限"
    else:
        days = _count(ctx, text, "天数")
        by_stage[stage] = days
        done = f"{grade} 级客户在「{stage}」阶段超过 {days} 个工作日算停滞"
    own["grade_limits"] = {g: v for g, v in limits.items() if v}
    return done


def _lead_minutes(ctx: Context, text: str) -> int:
    """Minutes from 0 to MAX_LEAD_MINUTES ('30', '30分钟'): how early a timed follow-up pings."""
    text = re.sub(r"(分钟|分)$", "", text.strip())
    if not text.isdigit() or not 0 <= int(text) <= MAX_LEAD_MINUTES:
        raise ctx.usage(
            f"提前提醒请写 0 到 {MAX_LEAD_MINUTES} 之间的分钟数，例如 /设置 提前提醒 30"
        )
    return int(text)


def _count(ctx: Context, text: str, what: str) -> int:
    """A whole number from 1 to 365."""
    text = text.strip().rstrip("天")
    if not text.isdigit() or not 1 <= int(text) <= 365:
        raise ctx.usage(f"{what}请写 1 到 365 之间的整数")
    return int(text)


def _show(ctx: Context) -> Reply:
    """The chat's roles and settings."""
    managers = ctx.session.scalars(
        select(Member)
        .where(Member.chat_id == ctx.chat.id, Member.role == ROLE_MANAGER)
        .order_by(Member.id)
    ).all()
    admins = ctx.settings.bot.admins
    reply = Reply()
    reply.line("⚙️ 本群设置")
    reply.line(f"经理：{'、'.join(member_label(m) for m in managers) or '暂无'}")
    reply.line(
        f"管理员：{'、'.join(admins) if admins else '暂无（在配置文件 [bot] admins 中设置）'}"
    )
    reply.line(f"时区：{ctx.chat.timezone}")
    config = ChatSettings.resolve(ctx.settings, ctx.chat)
    reply.line(
        "｜".join(f"{job.title} {config.time_of(job.name):%H:%M}{job.time_note}" for job in timed())
    )
    reply.line(
        f"上班时间 {config.office_start:%H:%M}-{config.office_end:%H:%M}｜"
        f"响应时限 {config.sla_hours:g} 个工作小时｜未跟进 {config.quiet_days} 个工作日进日报｜"
        f"提前提醒 {config.lead_minutes} 分钟｜提醒方式 {'私聊' if config.private_nudges else '群里'}"
    )
    limits = "、".join(f"{stage} {days}天" for stage, days in config.stage_limits.items())
    reply.line(f"阶段时限（工作日）：{limits}")
    by_grade = [
        f"{grade} 级 {stage} {days}天"
        for grade, stages in sorted(config.grade_limits.items())
        for stage, days in stages.items()
    ]
    if by_grade:
        reply.line(f"按等级的阶段时限：{'、'.join(by_grade)}")
    off = [job.title for job in by_name() if job.name in config.disabled]
    if off:
        reply.line(f"已关闭：{'、'.join(off)}")
    reply.line(f"你的角色：{ROLE_NAMES[ctx.role_of(ctx.sender)]}")
    return reply
