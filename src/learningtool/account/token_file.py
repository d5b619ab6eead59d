"""The local user's token kept in the data directory (`Settings.token_file`): when the token
it holds is rotated, the file gets the new one, so `TOKEN=$(cat ...)` keeps working."""

from __future__ import annotations

import os
from pathlib import Path

from learningtool.user.service import hash_token


def replace_kept(path: Path, revoked_hashes: set[str], new_token: str) -> bool:
    """Write `new_token` to `path` (mode 0600) if the token there was revoked. Run in a
    thread: it reads and writes a file."""
    try:
        kept = path.read_text().strip()
    except FileNotFoundError:
        return False
    if hash_token(kept) not in revoked_hashes:
        return False
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(new_token + "\n")
    return True
