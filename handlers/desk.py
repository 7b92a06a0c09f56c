"""The rep's desk: a private chat with the bot works on the book of the sender's team chat.

A private chat holds no data of its own. Its messages act on a team chat's book, as the
sender's member there (same role, same permissions); the replies go back to the private chat.
Membership is a ``Member`` row in a team chat with the sender's platform user id. Someone in
several team chats picks one with ``/团队`` once; the choice is kept in the private chat's
settings (``desk.team``), and every reply then names the team.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.messages import OutgoingMessage
from handlers.context import Context
from handlers.jobs.base import DESK
from handlers.registry import Group, command
from models.chat import Chat
from models.member import Member
from models.parsing import sanitize_user_text

NO_TEAM = (
    "🔒 你还不在任何团队群里，私聊里看不到客户。\n"
    "请先在团队群里 @我 发一句话（例如 /我的），之后就可以在这里私聊记录和查看了"
)
GROUP_ONLY = "ℹ️ /团队 用在和我的私聊里：你在几个团队群时，选私聊操作哪个团队的客户"


@dataclass
class Team:
    """A team chat the sender belongs to, and the sender's member there."""

    chat: Chat
    member: Member

    @property
    def label(self) -> str:
        """The team as people call it: the group's name (its id when the name is unknown)."""
        return sanitize_user_text(self.chat.name or self.chat.external_id, 40)


def is_desk(chat: Chat) -> bool:
    """Whether ``chat`` is someone's private chat with the bot (never a team's book)."""
    return DESK in (chat.settings or {})


def mark_desk(chat: Chat) -> None:
    """Mark a private chat as a desk, so it is never taken for a team chat."""
    if not is_desk(chat):
        chat.settings = {**(chat.settings or {}), DESK: {}}


def teams_of(session: Session, desk: Chat, user_id: str) -> list[Team]:
    """The team chats of ``user_id`` on the desk's platform, oldest first."""
    rows = session.execute(
        select(Chat, Member)
        .join(Member, Member.chat_id == Chat.id)
        .where(Chat.platform == desk.platform, Member.user_id == user_id, Chat.id != desk.id)
        .order_by(Chat.id)
    ).all()
    return [Team(chat, member) for chat, member in rows if not is_desk(chat)]


def chosen(desk: Chat, teams: list[Team]) -> Team | None:
    """The team the desk works on: the only one, or the one picked with /团队 (if still valid)."""
    if len(teams) == 1:
        return teams[0]
    picked = (desk.settings or {}).get(DESK, {}).get("team")
    return next((team for team in teams if team.chat.id == picked), None)


def ask(teams: list[Team]) -> OutgoingMessage:
    """The question to a member of several teams who has not picked one."""
    names = "、".join(team.label for team in teams)
    return OutgoingMessage(
        f"👥 你在 {len(teams)} 个团队群里：{names}\n"
        f"请先选一个，例如：/团队 {teams[0].label}（之后会记住，随时可以再换）"
    )


def choose(desk: Chat, teams: list[Team], args: str) -> OutgoingMessage:
    """``/团队 销售一组`` in a private chat: pick (or show) the team the desk works on."""
    word = args.strip()
    current = chosen(desk, teams)
    if not word:
        if current is None:
            return ask(teams)
        others = "、".join(team.label for team in teams if team is not current)
        tail = f"；也可以换成：{others}" if others else ""
        return OutgoingMessage(f"👥 私聊正在操作「{current.label}」的客户{tail}")
    match = [t for t in teams if t.label == word or t.chat.external_id == word]
    if word.isdigit() and 1 <= int(word) <= len(teams):
        match = [teams[int(word) - 1]]
    if len(match) != 1:
        names = "、".join(team.label for team in teams)
        return OutgoingMessage(
            f"❌ 你不在名为“{sanitize_user_text(word, 20)}”的团队群里；可选：{names}"
        )
    own: dict[str, Any] = dict(desk.settings or {})
    own[DESK] = {**own.get(DESK, {}), "team": match[0].chat.id}
    desk.settings = own
    return OutgoingMessage(f"✅ 之后私聊操作「{match[0].label}」的客户（权限和在群里一样）")


def labelled(replies: list[OutgoingMessage], team: Team) -> list[OutgoingMessage]:
    """Replies that say which team they are about (for members of several teams)."""
    tag = f"〔{team.label}〕"
    for reply in replies:
        reply.text = f"{tag}{reply.text}" if reply.text else reply.text
        if reply.card is not None:
            reply.card.title = f"{tag}{reply.card.title}"
    return replies


@command(
    "团队",
    aliases=("td", "team"),
    usage="/团队 [团队群名]",
    summary="私聊时选操作哪个团队群的客户（只在一个团队群时不用选）；不带参数查看当前团队",
    example="/团队 销售一组",
    who="所有人（在私聊里用）",
    group=Group.MANAGE,
)
def team(ctx: Context, args: str) -> OutgoingMessage:
    """In a group there is nothing to pick: the group is the team (the router handles privates)."""
    return OutgoingMessage(GROUP_ONLY)
