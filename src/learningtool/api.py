"""The versioned REST API: every domain router under /api/v1."""

from __future__ import annotations

from fastapi import APIRouter

from learningtool.account.router import router as account_router
from learningtool.chat.router import router as chat_router
from learningtool.feed.router import router as feed_router
from learningtool.jobs.router import router as jobs_router
from learningtool.knowledge.router import router as knowledge_router
from learningtool.notebook.router import router as notebook_router
from learningtool.research.router import router as research_router
from learningtool.source.router import router as source_router
from learningtool.study.router import router as study_router
from learningtool.topics.router import router as topics_router

api_router = APIRouter(prefix="/api/v1")
api_router.include_router(account_router)
api_router.include_router(notebook_router)
api_router.include_router(source_router)
api_router.include_router(knowledge_router)
api_router.include_router(study_router)
api_router.include_router(feed_router)
api_router.include_router(topics_router)
api_router.include_router(research_router)
api_router.include_router(chat_router)
api_router.include_router(jobs_router)
