"""An OpenAI-compatible chat model of fixed behaviour on 127.0.0.1, for benches: every
request to `POST /v1/chat/completions` is answered by `answer(request)`, a JSON reply or a
stream of content deltas, after the delays it says.

The benches' own copy, not the tests' scripted server: a bench measures the service and must
not change when a test helper does. Built on `asyncio.start_server` (no framework between the
socket and the clock). Each request records, on `time.perf_counter()`, when it was read
(`received_at`), when its reply began after its delay (`answered_at`) and, streamed, when its
first non-empty delta was written (`first_token_at`), so that the bench can subtract the
model's own time from what its client saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

MODEL = "bench-model"


@dataclass
class Answer:
    """A JSON body (`body`) or a stream of content deltas (`deltas`), after `delay` seconds;
    deltas `interval` seconds apart."""

    status: int = 200
    body: dict[str, Any] | None = None
    deltas: list[str] | None = None
    delay: float = 0.0
    interval: float = 0.0
    usage: tuple[int, int] = (7, 3)  # (prompt, completion) tokens, sent when asked for


def completion(content: str, *, delay: float = 0.0) -> Answer:
    """A chat completion whose message is `content`."""
    choice = {"index": 0, "message": {"role": "assistant", "content": content}}
    usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    choice |= {"finish_reason": "stop", "logprobs": None}
    return Answer(body=_envelope("chat.completion", [choice], usage), delay=delay)


def streamed(deltas: list[str], *, delay: float = 0.0, interval: float = 0.0) -> Answer:
    return Answer(deltas=deltas, delay=delay, interval=interval)


def error(status: int, message: str) -> Answer:
    return Answer(status=status, body={"error": {"message": message, "type": "bench"}})


@dataclass
class Request:
    path: str
    body: Any
    received_at: float
    answered_at: float | None = None
    first_token_at: float | None = None

    def content(self, role: str) -> list[str]:
        """The text of every message with `role`, in order."""
        messages = self.body.get("messages", []) if isinstance(self.body, dict) else []
        texts = []
        for message in messages:
            if message.get("role") == role:
                content = message.get("content")
                if isinstance(content, list):  # content blocks
                    content = "".join(part.get("text", "") for part in content)
                texts.append(str(content))
        return texts


class FakeModel:
    def __init__(self, answer: Callable[[Request], Answer]) -> None:
        self.answer = answer
        self.requests: list[Request] = []
        self.unexpected = 0  # requests to another route
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._answer(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client left: nothing to answer
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        _method, path, _ = head[0].split(" ", 2)
        length = next(
            (
                int(line.split(":", 1)[1])
                for line in head
                if line.lower().startswith("content-length:")
            ),
            0,
        )
        raw = await reader.readexactly(length) if length else b""
        request = Request(path, json.loads(raw) if raw else None, time.perf_counter())
        self.requests.append(request)
        if not path.rstrip("/").endswith("/chat/completions"):
            self.unexpected += 1
            answer = error(404, f"no route {path}")
        else:
            answer = self.answer(request)
        await asyncio.sleep(answer.delay)
        request.answered_at = time.perf_counter()
        if answer.deltas is None:
            payload = json.dumps(answer.body).encode()
            writer.write(_head(answer.status, "application/json", len(payload)) + payload)
            await writer.drain()
            return
        writer.write(_head(answer.status, "text/event-stream", None))
        await self._event(writer, _delta({"role": "assistant", "content": ""}))
        for delta in answer.deltas:
            await asyncio.sleep(answer.interval)
            await self._event(writer, _delta({"content": delta}))
            if delta and request.first_token_at is None:
                request.first_token_at = time.perf_counter()
        await self._event(writer, _delta({}, finish="stop"))
        if ((request.body or {}).get("stream_options") or {}).get("include_usage"):
            prompt, done = answer.usage
            usage = {"prompt_tokens": prompt, "completion_tokens": done}
            usage["total_tokens"] = prompt + done
            await self._event(writer, _envelope("chat.completion.chunk", [], usage))
        await self._event(writer, "[DONE]")
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async def _event(self, writer: asyncio.StreamWriter, data: Any) -> None:
        """One server-sent event, as one chunk of the chunked body."""
        event = f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n".encode()
        writer.write(b"%x\r\n%s\r\n" % (len(event), event))
        await writer.drain()


def _envelope(kind: str, choices: list[Any], usage: dict[str, int] | None) -> dict[str, Any]:
    body: dict[str, Any] = {"id": "bench", "object": kind, "created": 0, "model": MODEL}
    body["choices"] = choices
    if usage is not None:
        body["usage"] = usage
    return body


def _delta(delta: dict[str, Any], *, finish: str | None = None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
    return _envelope("chat.completion.chunk", [choice], None)


def _head(status: int, content_type: str, length: int | None) -> bytes:
    size = "Transfer-Encoding: chunked" if length is None else f"Content-Length: {length}"
    lines = [f"HTTP/1.1 {status} X", f"Content-Type: {content_type}", size, "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
