"""Typed SQLAlchemy 2.0 models and the domain rules about them."""

from models.activity import Activity
from models.base import Base
from models.chat import Chat
from models.customer import Customer
from models.member import Member
from models.pipeline import Inbox, JobRun, Outbox
from models.stored_file import StoredFile
from models.target import Target

__all__ = [
    "Activity",
    "Base",
    "Chat",
    "Customer",
    "Inbox",
    "JobRun",
    "Member",
    "Outbox",
    "StoredFile",
    "Target",
]
