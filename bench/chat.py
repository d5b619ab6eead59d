"""Chat bench: the time to first token the service adds on top of a model of fixed latency,
at 1 chat and at 50 concurrent chats, with the app's event-loop lag and CPU while it runs.

Run from the repository root: `python bench/chat.py [--requests N] [--rounds R] ...`.
Prints one JSON document on stdout (progress goes to stderr). Nothing is asserted: every
target is reported with `met` true or false.

1. The app: `create_app(Settings(data_dir=<tmp>, SQLite, worker on, default embedder and
   graph))` served by `uvicorn.Server.serve()` on 127.0.0.1 (a free port) in a spawned
   child process, on the loop uvicorn picks (`--loop auto`: uvloop when installed, as
   `learningtool serve` gets). The bench process plays the world around it: the model and
   the learners. Keeping them out of the app's process matters at 50 chats: a client and a
   model server sharing the app's loop would add their own work to what is measured.
2. Data: one notebook with `--sources` pasted-text sources of generated prose (bench.ingest
   vocabulary: `--sections` sections of about `--section-words` words under a heading),
   ingested by an app without LLM (so study material is made offline, not by the fake
   model), the bench waiting until no job is queued or running. The same data directory is
   then served by an app configured with the LLM (`llm_provider="openai"`).
3. The model: `bench.fake_model.FakeModel` on 127.0.0.1 in the bench process,
   answering every request from a default reply. A streamed answer sends its role chunk
   after `--model-ttft` - `--token-interval` seconds and its first content delta
   `--token-interval` later, then `--answer-tokens` words in all, `--token-interval` apart:
   the words of passage [1] of the prompt, then `[1].`, so the claim check's overlap clears
   the sentence and no judge call follows. A rewrite (follow-ups) answers, after
   `--model-ttft`, with the last question unchanged; a judge (not expected) with a verdict.
   Every call is counted by kind.
4. A chat: `POST .../messages {"content", "stream": true}` in its own session, with a
   question never asked before, read as server-sent events until `done`. Client TTFT = POST
   sent to the first `token` event at the client. The model's own time before that token =
   its answer TTFT (first content delta written - answer request read) plus, for a
   follow-up, its rewrite time (reply written - request read), all on the bench process's
   `perf_counter()`, matched to the chat by the question in the prompt. Added = client TTFT
   - the model's own time, split into: POST sent to the first model request read (request
   handling, commit, history, retrieval for a first turn), rewrite reply to answer request
   (follow-ups: parsing the rewrite, retrieval), and relay (first delta written to the
   client's `token` event: LangChain, the event queue, SSE, the client).
5. Cases: concurrency 1 (after `--warmup` chats reported apart: the first chats of an app
   start its embedding pool) with `--requests` chats one after the other, and concurrency
   `--concurrency` with `--rounds` rounds of that many chats started at once, each in its own
   session; a round ends at its last `done`. These are first turns (no rewrite). With the
   model, follow-ups too (`--follow-up-requests` at 1, `--follow-up-rounds` at N): sessions
   that already hold one answered turn (asked, untimed, before the round), so the question
   goes through the model's rewrite first. The offline engine (no LLM; `--no-offline` skips
   it) runs the first-turn cases first as a baseline: there the whole client TTFT is service.
6. Around each round (setup excluded): the app's `LoopLagMonitor` (`app.state.lag_monitor`,
   50 ms; its samples copied in the child every few seconds, since it keeps one minute) and
   the bench's own loop lag (to show the measuring side kept up); CPU seconds of the app's
   process and of its child processes (pools, graph worker) from /proc, of the bench
   process, and the machine's busy share (other tenants count); and, unless `--no-spans`,
   the duration of the app's steps (`SPAN_TARGETS`: auth, inserts, history, each retrieval
   method, claims, storing), recorded in the child through `learningtool.spans`, and of
   every commit.

Targets (`met` true/false): p95 of the added TTFT of the first-turn LLM cases, <= 50 ms at 1
chat and <= 200 ms at 50 concurrent chats.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import re
import shutil
import sqlite3
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))  # `bench.ingest`, `bench.fake_model`

# Light imports only at module level: the spawned app process and its process pools import
# this script again (as `__mp_main__`), so the service stack is imported inside functions.
from bench import common  # noqa: E402
from bench.common import API, lag_summary, log  # noqa: E402

TARGETS = {"added_ttft_ms_c1_max": 50.0, "added_ttft_ms_c50_max": 200.0}
TARGET_PERCENTILE = 95
LAG_COPY_SECONDS = 5.0
SETUP_CONCURRENCY = 50
START_SECONDS = 120.0
STOP_SECONDS = 60.0
BENCH_LAG_INTERVAL = 0.01
_PASSAGE_ONE = re.compile(r'<source id="1">\n(.*?)\n</source>', re.DOTALL)
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")


# -- statistics -------------------------------------------------------------------------------


def r(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def summary_ms(seconds: list[float]) -> dict[str, Any]:
    return common.ms_stats(seconds, ("count", "p50", "p95", "p99", "max", "mean"), 2)


def brief_ms(seconds: list[float]) -> dict[str, Any]:
    """count, p50, p95, max in ms: for the many span rows, which need less than a target."""
    full = summary_ms(seconds)
    return {key: full[key] for key in ("count", "p50", "p95", "max")}


def present(values: dict[str, Any]) -> dict[str, Any] | None:
    """`values` without its None entries (parts a case does not have), or None if empty."""
    kept = {key: value for key, value in values.items() if value is not None}
    return kept or None


# -- data -------------------------------------------------------------------------------------


def _words(rng: random.Random, vocabulary: tuple[str, ...], count: int) -> list[str]:
    return [rng.choice(vocabulary) for _ in range(count)]


def make_sources(count: int, sections: int, words: int, seed: int) -> list[tuple[str, str]]:
    """(title, Markdown text) pairs of generated prose: headed sections of short paragraphs."""
    from bench.ingest import VOCABULARY

    rng = random.Random(seed)
    sources = []
    for number in range(count):
        title = f"{' '.join(_words(rng, VOCABULARY, 3)).title()} {number + 1}"
        parts = [f"# {title}"]
        for _ in range(sections):
            parts.append(f"## {' '.join(_words(rng, VOCABULARY, 3)).title()}")
            written = 0
            while written < words:
                sentence = _words(rng, VOCABULARY, rng.randint(10, 22))
                written += len(sentence)
                parts.append(" ".join(sentence).capitalize() + ".")
        sources.append((title, "\n\n".join(parts) + "\n"))
    return sources


def questions(seed: int) -> Iterator[str]:
    """First-turn questions, never the same twice (the bench matches model calls by them)."""
    from bench.ingest import VOCABULARY

    rng = random.Random(seed)
    asked: set[str] = set()
    while True:
        a, b, c, d = _words(rng, VOCABULARY, 4)
        question = f"How does the {a} {b} change the {c} of {d}?"
        if question not in asked:
            asked.add(question)
            yield question


# -- the model --------------------------------------------------------------------------------


def request_kind(seen: Any) -> str:
    """answer | judge | rewrite | other, from the system prompt the chat code sends."""
    from learningtool.chat.answer import ANSWER, REWRITE
    from learningtool.chat.claims import JUDGE

    system = " ".join(seen.content("system"))
    for kind, prompt in (("answer", ANSWER), ("judge", JUDGE), ("rewrite", REWRITE)):
        if system.startswith(prompt[:40]):
            return kind
    return "other"


QUESTION_MARKERS = {"answer": "\n\nQuestion: ", "rewrite": "\nLast question: "}


def asked_question(seen: Any, kind: str) -> str | None:
    """The question at the end of an answer prompt (`...Question: <question>`) or of a
    rewrite prompt (`...Last question: <question>`); None for other requests."""
    marker = QUESTION_MARKERS.get(kind)
    user = "".join(seen.content("user"))
    return user.rsplit(marker, 1)[1] if marker and marker in user else None


@dataclass
class Model:
    """The default reply of the fake server, after a fixed latency: a streamed answer quoting
    passage [1]; for a rewrite, the last question unchanged (so the answer can be matched to
    its chat); for a judge (not expected: the answer is supported), a verdict."""

    ttft: float
    token_interval: float
    answer_tokens: int

    def __call__(self, seen: Any) -> Any:
        from bench.fake_model import completion, error, streamed

        kind = request_kind(seen)
        if kind == "answer":
            return streamed(
                self.answer(seen),
                delay=max(0.0, self.ttft - self.token_interval),
                interval=self.token_interval,
            )
        if kind == "judge":
            return completion('{"supported": true}', delay=self.ttft)
        if kind == "rewrite":
            question = asked_question(seen, kind) or "?"
            return completion(json.dumps({"question": question}), delay=self.ttft)
        return error(400, "bench/chat.py does not script this request")

    def answer(self, seen: Any) -> list[str]:
        """Words of passage [1] (after its `title: `), then the citation, one per delta."""
        found = _PASSAGE_ONE.search("".join(seen.content("user")))
        text = found.group(1).split(": ", 1)[-1] if found else "The notebook says little"
        words = _WORD.findall(text)[: self.answer_tokens] or ["Nothing"]
        words[0] = words[0].capitalize()
        return [f"{word} " for word in words] + ["[1]."]


# -- the app, in a child process --------------------------------------------------------------


# (span, label): the steps of asking and answering, as the code declares them with
# `learningtool.spans.timed`, and the label this bench reports them under.
SPAN_TARGETS = (
    ("user.authenticate", "request.auth"),
    ("notebook.get", "request.notebook"),
    ("chat.get_session", "request.chat_session"),
    ("chat.ask", "request.insert_messages"),
    ("chat.history", "answer.history"),
    ("chat.rewrite", "answer.rewrite"),
    ("knowledge.search", "search (all)"),
    ("knowledge.exclusions", "search.exclusions"),
    ("knowledge.lexical", "search.lexical"),
    ("knowledge.vector", "search.vector"),
    ("knowledge.vector_matrix", "search.vector.matrix"),
    ("embed.local_query", "search.vector.embed_query"),
    ("knowledge.graph", "search.graph"),
    ("knowledge.passages", "search.passages"),
    ("chat.claims", "answer.claims"),
    ("chat.claims_quotes", "answer.claims (offline quotes)"),
    ("chat.relevance", "answer.relevance (offline)"),
    ("chat.store", "answer.store"),
)
# Every commit, whoever makes it: a library's public method, wrapped (it has no span).
COMMIT_LABEL = "db.commit (any)"


class Spans:
    """Records the `SPAN_TARGETS` spans in the app process, and times every commit: (label,
    start, end) on time.monotonic(), for the bench to group by case."""

    def __init__(self) -> None:
        self.records: list[tuple[str, float, float]] = []
        self.missing: list[str] = []

    def install(self) -> None:
        # The modules declaring the spans, imported so that `declared()` knows them all.
        from sqlalchemy.ext.asyncio import AsyncSession

        import learningtool.knowledge.embed.local
        import learningtool.main  # noqa: F401
        from learningtool import spans

        labels = dict(SPAN_TARGETS)
        self.missing = [name for name in labels if name not in spans.declared()]
        records = self.records

        def record(name: str, started: float, ended: float) -> None:
            label = labels.get(name)
            if label is not None:
                records.append((label, started, ended))

        spans.record(record)
        original = AsyncSession.commit

        async def commit(session: AsyncSession) -> None:
            started = time.monotonic()
            try:
                await original(session)
            finally:
                records.append((COMMIT_LABEL, started, time.monotonic()))

        AsyncSession.commit = commit  # type: ignore[method-assign]


def serve_child(settings: dict[str, Any], loop_name: str, spans: bool, channel: Connection) -> None:
    """Child process: serve the app until told to stop, then send its loop-lag samples
    (and spans)."""
    try:
        with asyncio.Runner(loop_factory=common.loop_factory(loop_name)) as runner:
            runner.run(_serve(settings, spans, channel))
    except BaseException:
        channel.send(("error", traceback.format_exc()))


async def _serve(settings_values: dict[str, Any], with_spans: bool, channel: Connection) -> None:
    import uvicorn

    from learningtool.config import Settings
    from learningtool.main import create_app

    settings = Settings(_env_file=None, **settings_values)  # type: ignore[call-arg]
    app = create_app(settings)
    listener = common.loopback_listener()  # IPPROTO_TCP: accepted connections get TCP_NODELAY
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    await common.wait_started(server, serving, START_SECONDS)
    loop = asyncio.get_running_loop()
    spans = Spans()
    if with_spans:
        spans.install()
    lags = LagCopy(app.state.lag_monitor)
    copying = asyncio.create_task(lags.run())
    channel.send(("ready", listener.getsockname()[1], f"{type(loop).__module__}"))
    await asyncio.to_thread(channel.recv)  # "stop"
    copying.cancel()
    server.should_exit = True
    await serving
    lags.copy()
    offset = time.monotonic() - loop.time()  # uvloop's clock is not time.monotonic()
    timed = [(at + offset, lag) for at, lag in lags.samples]
    channel.send(("lag", timed, lags.interval, spans.records, spans.missing))


class LagCopy:
    """Keeps every sample of a `LoopLagMonitor`, which itself keeps only the last minute."""

    def __init__(self, monitor: Any) -> None:
        self.monitor = monitor
        self.interval: float = monitor.interval
        self.samples: list[tuple[float, float]] = []

    def copy(self) -> None:
        last = self.samples[-1][0] if self.samples else float("-inf")
        timed = self.monitor.timed_samples()
        self.samples.extend((at, lag) for at, lag in timed if at > last)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(LAG_COPY_SECONDS)
            self.copy()


class AppProcess:
    """The app served in a spawned child; its lags and spans arrive when it stops."""

    def __init__(self, settings: dict[str, Any], loop_name: str, spans: bool) -> None:
        context = multiprocessing.get_context("spawn")
        self.channel, child_end = context.Pipe()
        self.process = context.Process(
            target=serve_child,
            args=(settings, loop_name, spans, child_end),
            name="bench-chat-app",
        )
        self.port = 0
        self.event_loop = ""
        self.lags: list[tuple[float, float]] = []
        self.lag_interval = 0.0
        self.spans: list[tuple[str, float, float]] = []
        self.spans_missing: list[str] = []

    async def start(self) -> None:
        started = time.perf_counter()
        self.process.start()
        message = await self._receive(START_SECONDS)
        if message[0] != "ready":
            raise RuntimeError(f"the app did not start:\n{message[1]}")
        _, self.port, self.event_loop = message
        took = time.perf_counter() - started
        log(f"app pid {self.process.pid} on port {self.port}, started in {took:.1f} s")

    async def stop(self) -> None:
        if not self.process.is_alive():
            return
        self.channel.send("stop")
        message = await self._receive(STOP_SECONDS)
        if message[0] == "lag":
            _, self.lags, self.lag_interval, self.spans, self.spans_missing = message
        else:
            log(f"the app process failed:\n{message[1]}")
        await asyncio.to_thread(self.process.join, STOP_SECONDS)

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
            self.process.join(10)

    async def _receive(self, seconds: float) -> tuple[Any, ...]:
        if not await asyncio.to_thread(self.channel.poll, seconds):
            raise TimeoutError("the app process did not answer")
        return tuple(self.channel.recv())

    def lag_within(self, windows: list[tuple[float, float]]) -> list[float]:
        """Lags of samples that woke within the windows (time.monotonic())."""
        return [lag for at, lag in self.lags if inside(at, windows)]

    def spans_within(self, windows: list[tuple[float, float]]) -> dict[str, Any]:
        """Per label, the durations of the spans begun within the windows."""
        durations: dict[str, list[float]] = {}
        for label, begun, ended in self.spans:
            if inside(begun, windows):
                durations.setdefault(label, []).append(ended - begun)
        return {label: brief_ms(values) for label, values in sorted(durations.items())}


class BenchLag:
    """The bench process's own loop lag, to tell a slow app from a slow measuring side."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            await asyncio.sleep(self.interval)
            now = time.monotonic()
            self.samples.append((now, max(0.0, now - started - self.interval)))

    def within(self, windows: list[tuple[float, float]]) -> list[float]:
        return [lag for at, lag in self.samples if inside(at, windows)]


def inside(moment: float, windows: list[tuple[float, float]]) -> bool:
    return any(start <= moment <= end for start, end in windows)


# -- CPU time ---------------------------------------------------------------------------------


def tree_cpu_seconds(root: int) -> tuple[float, float] | None:
    """User + system CPU seconds of process `root`, and of all its descendants still alive
    (Linux /proc), else None. The app's pools and graph worker are its children."""
    try:
        tick = os.sysconf("SC_CLK_TCK")
        parents: dict[int, int] = {}
        times: dict[int, float] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                    parents[int(entry.name)] = int(fields[1])
                    times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    except (OSError, ValueError):
        return None
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        tree.update(children)
        frontier += children
    children_cpu = sum(times.get(pid, 0.0) for pid in tree if pid != root)
    return times.get(root, 0.0), children_cpu


def machine_busy() -> tuple[float, float] | None:
    """Machine-wide (busy, total) jiffies from /proc/stat (Linux), else None."""
    jiffies = common.cpu_jiffies()
    return None if jiffies is None else jiffies[:2]


@dataclass
class CpuMark:
    """CPU counters at one moment: the app's process tree, this process, the machine."""

    app: tuple[float, float] | None  # the app's own process, its child processes
    bench: float
    machine: tuple[float, float] | None

    @classmethod
    def take(cls, app_pid: int) -> CpuMark:
        return cls(tree_cpu_seconds(app_pid), time.process_time(), machine_busy())


# -- one chat ---------------------------------------------------------------------------------


@dataclass
class Chat:
    """Client-side moments of one streamed answer (perf_counter), and how it ended."""

    question: str
    sent: float
    message: float | None = None
    retrieved: float | None = None
    first_token: float | None = None
    done: float | None = None
    ending: str = "none"


async def open_session(client: Any, notebook: str) -> str:
    """A new chat session's messages URL (so that every question is a first turn)."""
    created = await client.post(f"{API}/notebooks/{notebook}/chat/sessions", json={})
    created.raise_for_status()
    return f"{API}/notebooks/{notebook}/chat/sessions/{created.json()['id']}/messages"


async def ask(client: Any, url: str, question: str) -> Chat:
    """The question as a stream, read to its `done` (or `error`) event."""
    chat = Chat(question, time.perf_counter())
    body = {"content": question, "stream": True}
    async with client.stream("POST", url, json=body) as response:
        response.raise_for_status()
        event = None
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event and _record(chat, event):
                break
    return chat


def _record(chat: Chat, event: str) -> bool:
    """Note the moment of `event`; True at the last one."""
    now = time.perf_counter()
    if event == "message" and chat.message is None:
        chat.message = now
    elif event == "retrieved" and chat.retrieved is None:
        chat.retrieved = now
    elif event == "token" and chat.first_token is None:
        chat.first_token = now
    elif event in ("done", "error"):
        chat.done, chat.ending = now, event
        return True
    return False


# -- cases ------------------------------------------------------------------------------------


@dataclass
class World:
    """What every case needs: the client, the notebook, the model server, the monitors."""

    client: Any
    notebook: str
    questions: Iterator[str]
    model: Any  # FakeModel, or None for the offline engine
    bench_lag: BenchLag
    app_pid: int


@dataclass
class Case:
    """The timed chats of a case, the model requests they made, and the time windows in
    which they ran (time.monotonic(); setup between rounds is outside them)."""

    name: str
    llm: bool
    follow_up: bool
    concurrency: int
    chats: list[Chat] = field(default_factory=list)
    seen: list[Any] = field(default_factory=list)
    windows: list[tuple[float, float]] = field(default_factory=list)
    cpu_total: list[float] = field(default_factory=lambda: [0.0] * 5)
    wall_s: float = 0.0


async def prepare(world: World, count: int, follow_up: bool) -> list[str]:
    """`count` new sessions (messages URLs); for follow-ups each gets one answered first
    turn, asked at most `SETUP_CONCURRENCY` at a time. Untimed."""
    urls = [await open_session(world.client, world.notebook) for _ in range(count)]
    if follow_up:
        for start in range(0, count, SETUP_CONCURRENCY):
            batch = urls[start : start + SETUP_CONCURRENCY]
            await asyncio.gather(*(ask(world.client, u, next(world.questions)) for u in batch))
    return urls


async def run_case(
    world: World, name: str, concurrency: int, rounds: int, *, follow_up: bool = False
) -> Case:
    """`rounds` rounds of `concurrency` chats started together, each in its own session
    (with one earlier turn for follow-ups); a round ends at its last `done`."""
    log(f"{name}: {rounds} x {concurrency} chat(s)")
    case = Case(name, world.model is not None, follow_up, concurrency)
    began = time.perf_counter()
    for _ in range(rounds):
        urls = await prepare(world, concurrency, follow_up)
        asked = [(url, next(world.questions)) for url in urls]
        first_request = len(world.model.requests) if world.model else 0
        mark, start = CpuMark.take(world.app_pid), time.monotonic()
        case.chats += await asyncio.gather(*(ask(world.client, u, q) for u, q in asked))
        case.windows.append((start, time.monotonic()))
        _add_cpu(case.cpu_total, mark, CpuMark.take(world.app_pid))
        if world.model:
            case.seen += world.model.requests[first_request:]
    case.wall_s = time.perf_counter() - began
    return case


def _add_cpu(total: list[float], before: CpuMark, after: CpuMark) -> None:
    """Accumulate [app main, app children, bench, machine busy, machine total]."""
    if after.app and before.app:
        total[0] += after.app[0] - before.app[0]
        total[1] += after.app[1] - before.app[1]
    total[2] += after.bench - before.bench
    if after.machine and before.machine:
        total[3] += after.machine[0] - before.machine[0]
        total[4] += after.machine[1] - before.machine[1]


def _cpu_summary(case: Case) -> dict[str, Any]:
    main, children, bench, busy, jiffies = case.cpu_total
    wall = sum(end - start for start, end in case.windows)
    per_chat = 1000 / max(len(case.chats), 1)
    return {
        "timed_wall_s": r(wall, 2),
        "app_main_process_ms_per_chat": r(main * per_chat, 2),
        "app_child_processes_ms_per_chat": r(children * per_chat, 2),
        "app_main_process_cores_busy": r(main / wall, 2) if wall else None,
        "app_all_processes_cores_busy": r((main + children) / wall, 2) if wall else None,
        "bench_process_ms_per_chat": r(bench * per_chat, 2),
        "machine_busy_share": r(busy / jiffies, 3) if jiffies else None,
    }


def calls_by_question(seen: list[Any]) -> dict[str, dict[str, Any]]:
    """The model requests of each chat, by kind, keyed by the question they carry (the
    rewrite's last question; the answer's question, which the fake rewrite keeps as is)."""
    calls: dict[str, dict[str, Any]] = {}
    for request in seen:
        kind = request_kind(request)
        question = asked_question(request, kind)
        if question is not None:
            calls.setdefault(question, {})[kind] = request
    return calls


class Parts:
    """Per-chat durations (seconds) that make up a case's figures."""

    NAMES = (
        "added",
        "client_ttft",
        "model_ttft",
        "model_rewrite",
        "to_first_model_request",
        "rewrite_reply_to_answer_request",
        "retrieved_event_to_answer_request",
        "relay",
        "first_sse_event",
        "retrieved_event",
    )

    def __init__(self) -> None:
        self.values: dict[str, list[float]] = {name: [] for name in self.NAMES}

    def add(self, name: str, moment: float | None, since: float | None) -> None:
        if moment is not None and since is not None:
            self.values[name].append(moment - since)

    def chat(self, chat: Chat, calls: dict[str, Any] | None, llm: bool) -> None:
        """Add one chat: without a model, all of its TTFT is the service's; with one, the
        model's own time before the first token (rewrite reply, answer TTFT) is taken off."""
        if chat.first_token is None:
            return
        answer = (calls or {}).get("answer")
        if llm and (answer is None or answer.first_token_at is None):
            return  # no model answer (nothing retrieved): not a sample of these figures
        self.add("client_ttft", chat.first_token, chat.sent)
        self.add("first_sse_event", chat.message, chat.sent)
        self.add("retrieved_event", chat.retrieved, chat.sent)
        if not llm:
            self.add("added", chat.first_token, chat.sent)
            return
        rewrite = (calls or {}).get("rewrite")
        model = answer.first_token_at - answer.received_at
        self.values["model_ttft"].append(model)
        if rewrite is not None and rewrite.answered_at is not None:
            model += rewrite.answered_at - rewrite.received_at
            self.add("model_rewrite", rewrite.answered_at, rewrite.received_at)
            self.add("rewrite_reply_to_answer_request", answer.received_at, rewrite.answered_at)
        self.values["added"].append(chat.first_token - chat.sent - model)
        self.add("to_first_model_request", (rewrite or answer).received_at, chat.sent)
        self.add("retrieved_event_to_answer_request", answer.received_at, chat.retrieved)
        self.add("relay", chat.first_token, answer.first_token_at)

    def summary(self, name: str) -> dict[str, Any] | None:
        return summary_ms(self.values[name]) if self.values[name] else None


def describe(case: Case, app: AppProcess, bench_lag: BenchLag) -> dict[str, Any]:
    """Per-case figures: added TTFT and its parts, model time, calls, endings, CPU, lags."""
    calls = calls_by_question(case.seen)
    parts = Parts()
    for chat in case.chats:
        parts.chat(chat, calls.get(chat.question), case.llm)
    return {
        "concurrency": case.concurrency,
        "first_turns": not case.follow_up,
        "chats": len(case.chats),
        "added_ttft_ms": parts.summary("added"),
        "client_ttft_ms": parts.summary("client_ttft"),
        "model_ms": present(
            {
                "answer_ttft": parts.summary("model_ttft"),
                "rewrite_reply": parts.summary("model_rewrite"),
            }
        ),
        "added_parts_ms": present(
            {
                "to_first_model_request": parts.summary("to_first_model_request"),
                "rewrite_reply_to_answer_request": parts.summary("rewrite_reply_to_answer_request"),
                "retrieved_event_to_answer_request": parts.summary(
                    "retrieved_event_to_answer_request"
                ),
                "relay_first_delta_to_client": parts.summary("relay"),
            }
        ),
        "client_milestones_ms": {
            "first_sse_event": parts.summary("first_sse_event"),
            "retrieved_event": parts.summary("retrieved_event"),
        },
        "full_answer_ms": summary_ms([c.done - c.sent for c in case.chats if c.done]),
        "endings": dict(Counter(chat.ending for chat in case.chats)),
        "model_calls": dict(Counter(request_kind(seen) for seen in case.seen)),
        "wall_s_with_setup": r(case.wall_s, 2),
        "cpu": _cpu_summary(case),
        "app_loop_lag_ms": lag_summary(app.lag_within(case.windows)),
        "app_spans_ms": app.spans_within(case.windows) or None,
        "bench_loop_lag_ms": lag_summary(bench_lag.within(case.windows)),
    }


async def run_cases(
    world: World, label: str, args: argparse.Namespace
) -> tuple[Case | None, list[Case]]:
    """Warm-up (reported apart), then first turns at concurrency 1 and N, then (with a
    model) follow-ups at both."""
    warm = await run_case(world, f"{label} warm-up", 1, args.warmup) if args.warmup else None
    many = args.concurrency
    cases = [
        await run_case(world, f"{label}_c1", 1, args.requests),
        await run_case(world, f"{label}_c{many}", many, args.rounds),
    ]
    if world.model is not None and args.follow_up_requests:
        name = f"{label}_follow_up_c1"
        cases.append(await run_case(world, name, 1, args.follow_up_requests, follow_up=True))
    if world.model is not None and args.follow_up_rounds:
        name = f"{label}_follow_up_c{many}"
        cases.append(await run_case(world, name, many, args.follow_up_rounds, follow_up=True))
    return warm, cases


def describe_warmup(warm: Case | None, app: AppProcess) -> dict[str, Any] | None:
    """The first chats of an app, apart: each one's TTFT, and the loop lag and slowest
    steps while they ran (a cold start shows here)."""
    if warm is None:
        return None
    spans = app.spans_within(warm.windows)
    return {
        "client_ttft_ms": [
            r((chat.first_token - chat.sent) * 1000) if chat.first_token else None
            for chat in warm.chats
        ],
        "app_loop_lag_ms": lag_summary(app.lag_within(warm.windows)),
        "slowest_app_spans_max_ms": dict(
            sorted(((k, v["max"]) for k, v in spans.items()), key=lambda kv: -(kv[1] or 0))[:5]
        ),
        "note": "not in the figures: the first chats start the embedding pool, the graph "
        "worker's notebook and the model client",
    }


# -- phases -----------------------------------------------------------------------------------


def app_settings(
    data_dir: Path, model_url: str | None, query_batch_size: int | None = None
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "data_dir": str(data_dir),
        "database_url": None,
        "worker_enabled": True,
        "log_level": "WARNING",
        "rate_chat_per_minute": 0,  # every bench client is one user: no abuse to limit
    }
    if query_batch_size is not None:
        values["embedding_query_batch_size"] = query_batch_size
    if model_url is not None:
        values.update(
            llm_provider="openai",
            llm_base_url=model_url,
            llm_api_key="bench-key",
            llm_model="fake-model",
        )
    return values


def client_for(app: AppProcess, data_dir: Path) -> Any:
    import httpx

    token = (data_dir / "local-token").read_text().strip()
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{app.port}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx.Timeout(120.0),
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=200),
    )


async def ingest(client: Any, sources: list[tuple[str, str]], data_dir: Path) -> str:
    """A notebook with `sources`, once every job (ingest, then study) has ended."""
    created = await client.post(f"{API}/notebooks", json={"name": "Chat bench"})
    created.raise_for_status()
    notebook = created.json()["id"]
    for title, text in sources:
        response = await client.post(
            f"{API}/notebooks/{notebook}/sources", json={"text": text, "title": title}
        )
        if response.status_code != 202:
            raise RuntimeError(f"adding a source answered {response.status_code}")
    deadline = time.monotonic() + 600
    while (counts := await asyncio.to_thread(_job_counts, data_dir)).get("pending"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"jobs still pending after 10 minutes: {counts}")
        await asyncio.sleep(0.5)
    if counts.get("failed"):
        raise RuntimeError(f"some ingestion jobs failed: {counts}")
    return notebook


def _job_counts(data_dir: Path) -> dict[str, int]:
    """Jobs by state, read from the SQLite file (the API has no job listing)."""
    with contextlib.closing(sqlite3.connect(data_dir / "learningtool.db", timeout=30)) as db:
        rows = db.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall()
    counts = {state: count for state, count in rows}
    counts["pending"] = counts.get("queued", 0) + counts.get("running", 0)
    return counts


def _corpus_counts(data_dir: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(data_dir / "learningtool.db", timeout=30)) as db:
        return {
            table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("sources", "chunks", "study_items")
        }


async def phase(
    label: str,
    data_dir: Path,
    args: argparse.Namespace,
    model: Any,
    notebook: str | None,
    sources: list[tuple[str, str]],
    world_questions: Iterator[str],
    bench_lag: BenchLag,
    query_batch_size: int | None = None,
) -> tuple[str, dict[str, Any]]:
    """Serve the data directory (ingesting first if there is no notebook yet) and run the
    cases; returns the notebook and this phase's figures."""
    settings = app_settings(data_dir, model.base_url if model else None, query_batch_size)
    app = AppProcess(settings, args.loop, not args.no_spans)
    result: dict[str, Any] = {}
    try:
        await app.start()
        async with client_for(app, data_dir) as client:
            if notebook is None:
                started = time.perf_counter()
                log(f"ingesting {len(sources)} sources")
                notebook = await ingest(client, sources, data_dir)
                result["ingest_s"] = r(time.perf_counter() - started, 1)
            pid = app.process.pid or 0
            world = World(client, notebook, world_questions, model, bench_lag, pid)
            warm, cases = await run_cases(world, label, args)
        await app.stop()
    finally:
        app.kill()
    result["event_loop"] = app.event_loop
    if app.spans_missing:
        result["spans_not_found"] = app.spans_missing
    result["app_lag_interval_ms"] = app.lag_interval * 1000
    result["warmup"] = describe_warmup(warm, app)
    for case in cases:
        result[case.name] = describe(case, app, bench_lag)
    return notebook, result


# -- main -------------------------------------------------------------------------------------


def target(case: dict[str, Any], limit: float) -> dict[str, Any]:
    """A target on the first-turn LLM case's added TTFT, reported, never asserted."""
    added = case["added_ttft_ms"] or {}
    value = added.get(f"p{TARGET_PERCENTILE}")
    return {
        "value_ms": value,
        "max_ms": limit,
        "met": value is not None and value <= limit,
        "basis": f"p{TARGET_PERCENTILE} of added TTFT (client TTFT - model TTFT), LLM engine, "
        "first turns",
        "p50_ms": added.get("p50"),
        "p99_ms": added.get("p99"),
        "worst_ms": added.get("max"),
    }


def compare_batching(measured: dict[str, Any], concurrency: int) -> dict[str, Any] | None:
    """Added TTFT with concurrent questions embedded together against each alone, in the
    same run: the ratios (batched / alone; below 1 is better)."""
    alone = measured.get("llm_questions_alone")
    if alone is None:
        return None
    figures: dict[str, Any] = {"alone": {}, "batched": {}, "ratio": {}}
    for case in ("llm_c1", f"llm_c{concurrency}"):
        before = alone[case].get("added_ttft_ms") or {}
        after = measured["llm"][case].get("added_ttft_ms") or {}
        for pct in ("p50", "p95"):
            key = f"{case}_{pct}"
            figures["alone"][key], figures["batched"][key] = before.get(pct), after.get(pct)
            if before.get(pct) and after.get(pct) is not None:
                figures["ratio"][key] = r(after[pct] / before[pct], 2)
    return figures


async def measure(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    from bench.fake_model import FakeModel

    sources = make_sources(args.sources, args.sections, args.section_words, args.seed)
    asked = questions(args.seed)
    bench_lag = BenchLag(BENCH_LAG_INTERVAL)
    bench_lag.start()
    model = Model(args.model_ttft, args.token_interval, args.answer_tokens)
    report: dict[str, Any] = {}
    try:
        notebook = None
        if not args.no_offline:
            notebook, report["offline"] = await phase(
                "offline", data_dir, args, None, None, sources, asked, bench_lag
            )
        async with FakeModel(model) as server:
            if args.compare_query_batching:  # the same app with each question alone, first
                notebook, report["llm_questions_alone"] = await phase(
                    "llm", data_dir, args, server, notebook, sources, asked, bench_lag, 1
                )
            _, report["llm"] = await phase(
                "llm", data_dir, args, server, notebook, sources, asked, bench_lag
            )
            report["model_unexpected_requests"] = server.unexpected
    finally:
        await bench_lag.stop()
    report["corpus"] = await asyncio.to_thread(_corpus_counts, data_dir)
    return report


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40, help="timed chats at concurrency 1")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=4, help="rounds at --concurrency")
    parser.add_argument("--warmup", type=int, default=3, help="untimed chats first, per app")
    parser.add_argument(
        "--follow-up-requests", type=int, default=20, help="timed follow-ups at concurrency 1"
    )
    parser.add_argument(
        "--follow-up-rounds", type=int, default=2, help="rounds of follow-ups at --concurrency"
    )
    parser.add_argument("--model-ttft", type=float, default=0.3, help="seconds")
    parser.add_argument("--token-interval", type=float, default=0.02, help="seconds")
    parser.add_argument("--answer-tokens", type=int, default=16)
    parser.add_argument("--sources", type=int, default=4)
    parser.add_argument("--sections", type=int, default=8)
    parser.add_argument("--section-words", type=int, default=220)
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument("--no-offline", action="store_true", help="skip the offline baseline")
    parser.add_argument(
        "--compare-query-batching",
        action="store_true",
        help="also run the LLM cases with EMBEDDING_QUERY_BATCH_SIZE=1 (each question alone)",
    )
    parser.add_argument("--loop", choices=["auto", "asyncio", "uvloop"], default="auto")
    parser.add_argument("--no-spans", action="store_true", help="do not time the app's steps")
    args = parser.parse_args()
    if min(args.requests, args.concurrency, args.rounds, args.answer_tokens) < 1:
        parser.error("--requests, --concurrency, --rounds and --answer-tokens must be >= 1")
    if args.model_ttft < args.token_interval:
        parser.error("--model-ttft must be at least --token-interval")
    return args


def main() -> None:
    args = parse_args()
    began = time.perf_counter()
    load_before = common.loadavg()
    tmp = Path(tempfile.mkdtemp(prefix="lt-bench-chat-"))
    try:
        with asyncio.Runner(loop_factory=common.loop_factory(args.loop)) as runner:
            measured = runner.run(measure(args, tmp / "data"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    llm = measured["llm"]
    report = {
        **common.identity("chat"),
        "machine": common.machine(load_before, common.loadavg()),
        "setup": {
            "sources": args.sources,
            "corpus": measured["corpus"],
            "model": {
                "configured_ttft_ms": args.model_ttft * 1000,
                "token_interval_ms": args.token_interval * 1000,
                "answer_tokens": args.answer_tokens + 1,
                "unexpected_requests": measured["model_unexpected_requests"],
            },
            "app": "spawned child process: uvicorn + create_app(SQLite, worker, local "
            "embedder, graph); model server and clients in the bench process",
        },
        "offline": measured.get("offline"),
        "llm": llm,
        "query_batching": compare_batching(measured, args.concurrency),
        "targets": {
            "added_ttft_c1": target(llm["llm_c1"], TARGETS["added_ttft_ms_c1_max"]),
            f"added_ttft_c{args.concurrency}": target(
                llm[f"llm_c{args.concurrency}"], TARGETS["added_ttft_ms_c50_max"]
            ),
        },
        "bench_seconds": r(time.perf_counter() - began, 1),
    }
    common.emit(report)


if __name__ == "__main__":
    main()
