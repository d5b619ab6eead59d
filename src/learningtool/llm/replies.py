"""Reading a model's reply: its text, the tokens it reports, and the JSON object in it.

Models wrap JSON in code fences, prose or reasoning blocks; the object is extracted from all of
those, validated against the caller's schema, and a failed reply yields a repair prompt that
names what was wrong, so the model gets exactly one chance to fix it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, TypeVar

from langchain_core.messages import BaseMessage
from pydantic import BaseModel, ValidationError

from learningtool.llm.usage import Usage

T = TypeVar("T", bound=BaseModel)

REPLY_ECHO_MAX_CHARS = 8_000  # how much of a bad reply goes back to the model for repair
_MAX_REPORTED_ERRORS = 8
_THINK = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n?(.*?)```", re.DOTALL)
_MAX_OBJECT_STARTS = 64


class ReplyInvalid(Exception):
    """A reply that is not the object asked for: `problem` completes "Your previous reply ...",
    `errors` lists what the validation found."""

    def __init__(self, problem: str, errors: list[str]) -> None:
        super().__init__(problem)
        self.problem = problem
        self.errors = errors


def extract_json(reply: str) -> Any:
    """The JSON value in a model's reply: the whole reply, a fenced block, or the first JSON
    object embedded in prose. Reasoning blocks (`<think>...</think>`) are skipped.
    Raises `ValueError` when there is none."""
    text = _THINK.sub("", reply).strip()
    candidates = [text, *(m.group(1).strip() for m in _FENCE.finditer(text))]
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    decoder = json.JSONDecoder()
    starts = [i for i, ch in enumerate(text) if ch == "{"][:_MAX_OBJECT_STARTS]
    for start in starts:
        try:
            value, _end = decoder.raw_decode(text, start)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    raise ValueError("no JSON object found")


def parse_reply(reply: str, schema: type[T]) -> T:
    """The reply validated by `schema`, or `ReplyInvalid`."""
    if not reply.strip():
        raise ReplyInvalid("was empty", ["the reply was empty"])
    try:
        data = extract_json(reply)
    except ValueError:
        raise ReplyInvalid(
            "contained no parsable JSON object", ["no parsable JSON object in the reply"]
        ) from None
    try:
        return schema.model_validate(data)
    except ValidationError as error:
        raise ReplyInvalid("did not match the schema", _describe(error)) from None


def _describe(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors(include_url=False)[:_MAX_REPORTED_ERRORS]:
        where = ".".join(str(part) for part in item.get("loc", ())) or "(root)"
        problems.append(f"{where}: {item.get('msg', 'invalid')}")
    if error.error_count() > _MAX_REPORTED_ERRORS:
        problems.append(f"... and {error.error_count() - _MAX_REPORTED_ERRORS} more")
    return problems


def repair_prompt(problem: ReplyInvalid) -> str:
    listed = "\n".join(f"- {line}" for line in problem.errors)
    return (
        f"Your previous reply {problem.problem}. Validation errors:\n{listed}\n\n"
        "Reply again with the corrected JSON object only, conforming to the JSON Schema given "
        "in the instructions. No prose, no Markdown, no code fences."
    )


def text_of(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return str(message.text)


def usage_of(messages: list[BaseMessage]) -> Usage:
    """Sum the tokens reported on `messages` (one reply, or the chunks of a stream)."""
    input_tokens = output_tokens = 0
    for message in messages:
        metadata = getattr(message, "usage_metadata", None)
        if metadata:
            input_tokens += int(metadata.get("input_tokens") or 0)
            output_tokens += int(metadata.get("output_tokens") or 0)
            continue
        raw = message.response_metadata.get("token_usage") or message.response_metadata.get("usage")
        if isinstance(raw, Mapping):
            input_tokens += int(raw.get("prompt_tokens") or raw.get("input_tokens") or 0)
            output_tokens += int(raw.get("completion_tokens") or raw.get("output_tokens") or 0)
    return Usage(input_tokens, output_tokens, calls=1)
