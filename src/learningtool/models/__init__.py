"""Every table of the service, imported here so that metadata (and Alembic) sees them all."""

from learningtool.models.base import Base, utcnow
from learningtool.models.chat import ChatMessage, ChatSession
from learningtool.models.feed import FeedItem
from learningtool.models.job import Job
from learningtool.models.knowledge import Embedding
from learningtool.models.notebook import Exclusion, Notebook
from learningtool.models.research import ResearchRun
from learningtool.models.source import Chunk, Source
from learningtool.models.study import CardReview, CardState, StudyItem
from learningtool.models.topic import Topic, TopicPreference
from learningtool.models.user import ApiToken, User, WebSession

__all__ = [
    "ApiToken",
    "Base",
    "CardReview",
    "CardState",
    "ChatMessage",
    "ChatSession",
    "Chunk",
    "Embedding",
    "Exclusion",
    "FeedItem",
    "Job",
    "Notebook",
    "ResearchRun",
    "Source",
    "StudyItem",
    "Topic",
    "TopicPreference",
    "User",
    "WebSession",
    "utcnow",
]
