"""Questions' embeddings batched across concurrent requests ("natural" micro-batching).

Each chat or search embeds its question. Sent one by one, fifty concurrent questions make
fifty tasks of the model's process, each paying the hand-over to the process and a model
call for one text. Here a question goes at once when a task slot is free, so a lone
question waits for nothing; while `max_in_flight` tasks run, the questions that arrive
wait together and go as one task when a task ends. No timer: the batch is whatever
gathered while the model was busy, so the batching costs no latency at low load and
grows with the load.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import numpy as np

from learningtool.knowledge.embed.protocol import Vectors

Run = Callable[[list[str]], Awaitable[Vectors]]


class QueryBatcher:
    """Gathers `embed(text)` calls into calls of `run(texts)`: at most `max_batch` texts
    each, at most `max_in_flight` at once. A caller that goes away (cancelled) is left out
    of the batch it has not joined yet, and never takes a result another caller needs."""

    def __init__(self, run: Run, *, max_batch: int, max_in_flight: int) -> None:
        self._run = run
        self.max_batch = max(1, max_batch)
        self.max_in_flight = max(1, max_in_flight)
        self._waiting: list[tuple[str, asyncio.Future[np.ndarray]]] = []
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def embed(self, text: str) -> Vectors:
        """The embedding of `text`, as a one-row matrix (as `run` would give it)."""
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        self._waiting.append((text, future))
        self._start()
        row = await future
        return row[None, :]

    def _start(self) -> None:
        while self._waiting and self._in_flight < self.max_in_flight:
            self._in_flight += 1
            task = asyncio.create_task(self._send())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self) -> None:
        try:
            batch = self._take()
            if batch:
                await self._answer(batch)
        finally:
            self._in_flight -= 1
            self._start()

    def _take(self) -> list[tuple[str, asyncio.Future[np.ndarray]]]:
        live = [(text, future) for text, future in self._waiting if not future.done()]
        batch, self._waiting = live[: self.max_batch], live[self.max_batch :]
        return batch

    async def _answer(self, batch: list[tuple[str, asyncio.Future[np.ndarray]]]) -> None:
        try:
            vectors = await self._run([text for text, _ in batch])
        except BaseException as error:  # the callers learn of it, whatever it is
            failure = error if isinstance(error, Exception) else RuntimeError(str(error))
            for _, future in batch:
                if not future.done():
                    future.set_exception(failure)
            if not isinstance(error, Exception):
                raise
            return
        for (_, future), row in zip(batch, vectors, strict=True):
            if not future.done():
                future.set_result(row)
