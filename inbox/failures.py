"""What a dead message keeps about its failure, and the group key that makes identical failures group."""

from __future__ import annotations

import hashlib
import os
import traceback
from dataclasses import dataclass

GROUP_FRAMES = 3


@dataclass(frozen=True)
class Failure:
    error_type: str
    error_message: str
    traceback: str
    group: str


def describe(exc: BaseException, traceback_limit: int) -> Failure:
    """Type, message, truncated traceback and group key of an exception."""
    error_type = f"{type(exc).__module__}.{type(exc).__qualname__}"
    text = "".join(traceback.format_exception(exc))
    if len(text) > traceback_limit:
        text = "... (truncated)\n" + text[-traceback_limit:]
    return Failure(error_type, str(exc)[:2000], text, group_key(error_type, exc))


def group_key(error_type: str, exc: BaseException | None = None) -> str:
    """Exception type plus its innermost frames (file and function, not line numbers, which change
    with every deploy): the same bug in the same place gives the same key."""
    frames = traceback.extract_tb(exc.__traceback__)[-GROUP_FRAMES:] if exc is not None else []
    signature = "|".join([error_type] + [f"{os.path.basename(f.filename)}:{f.name}" for f in frames])
    return hashlib.sha1(signature.encode(), usedforsecurity=False).hexdigest()[:16]


def rejection(reason: str) -> Failure:
    """A message refused on the wire (no exception, no traceback)."""
    kind = reason.split(":")[0][:60]
    return Failure("inbox.RejectedMessage", reason, "", group_key(f"inbox.RejectedMessage:{kind}"))
