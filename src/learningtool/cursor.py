"""Opaque keyset cursors: the (moment, id) of the last row a page showed, for lists ordered
by a time and then an id (the feed, newest first; cards, soonest due first)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from learningtool.errors import InvalidInput


def encode(moment: datetime, row_id: str) -> str:
    raw = f"{moment.isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str) -> tuple[datetime, str]:
    """The (moment, id) of a cursor; 422 for anything this module did not write."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, row_id = raw.split("|", 1)
        parsed = datetime.fromisoformat(moment)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("the cursor is not valid") from None
    if parsed.tzinfo is None:
        raise InvalidInput("the cursor is not valid")
    return parsed, row_id
