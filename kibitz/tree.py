"""Reply trees for display, built iteratively (no recursion, whatever the depth), and cursors."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from datetime import UTC, datetime

from kibitz import errors
from kibitz.models import Comment, CommentNode, Sort
from kibitz.store.comments import SortKey

INLINE_DEPTH = 5  # reply levels drawn inline under a comment
BRANCH_LIMIT = 50  # direct replies drawn inline per comment
# Cursor fields are checked to these ranges: a forged value must not reach the database's integers
# (64-bit) or date arithmetic as an overflow.
MAX_ID = 2**62
MAX_SCORE = 2**62
MAX_OFFSET = 2**31


def is_shown(comment: Comment) -> bool:
    """Drawn for readers: visible, or a tombstone standing for visible replies below it."""
    return comment.visible or comment.visible_descendants > 0


def children_map(comments: Iterable[Comment], sort: Sort) -> dict[int, list[Comment]]:
    """Shown replies by parent id; oldest first, or by votes (ties newest first) for ``sort=votes``."""
    children: dict[int, list[Comment]] = {}
    for comment in comments:
        if comment.parent_id is not None and is_shown(comment):
            children.setdefault(comment.parent_id, []).append(comment)
    for replies in children.values():
        if sort is Sort.VOTES:
            replies.sort(key=lambda c: (c.score, c.created, c.id), reverse=True)
        else:
            replies.sort(key=lambda c: (c.created, c.id))
    return children


def build(
    tops: list[Comment],
    children: dict[int, list[Comment]],
    *,
    depth: int = INLINE_DEPTH,
    branch: int = BRANCH_LIMIT,
) -> list[CommentNode]:
    """Nest replies under ``tops`` up to ``depth`` levels and ``branch`` replies per comment;
    each node's ``reply_count`` counts all its shown direct replies, drawn or held back."""
    roots = [CommentNode(top) for top in tops]
    stack: list[tuple[CommentNode, int]] = [(node, 0) for node in roots]
    while stack:
        node, level = stack.pop()
        replies = children.get(node.comment.id, [])
        node.reply_count = len(replies)
        if level >= depth:
            continue
        for reply in replies[:branch]:
            child = CommentNode(reply)
            node.replies.append(child)
            stack.append((child, level + 1))
    return roots


def _b64(data: object) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(cursor: str) -> list[object]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error):
        raise errors.InvalidInput.field("cursor", "is not a cursor this server issued") from None
    if not isinstance(data, list):
        raise errors.InvalidInput.field("cursor", "is not a cursor this server issued")
    return data


def encode_cursor(sort: Sort, last: Comment) -> str:
    return _b64([sort.value, int(last.pinned), last.score, last.created.isoformat(), last.id])


def decode_cursor(sort: Sort, cursor: str) -> SortKey:
    """The keyset a page continues after; a cursor from another sort order is refused."""
    data = _unb64(cursor)
    try:
        kind, pinned, score, created, cid = data
        if kind != sort.value:
            raise errors.InvalidInput.field("cursor", "belongs to another sort order")
        if not (_whole(pinned, 0, 2) and _whole(score, -MAX_SCORE, MAX_SCORE) and _whole(cid, 1, MAX_ID)):
            raise TypeError("cursor fields")
        if not isinstance(created, str) or len(created) > 64:
            raise TypeError("cursor time")
        when = datetime.fromisoformat(created)
        if when.tzinfo is None or not 1900 <= when.year <= 9998:
            raise ValueError("naive or out of range")
        when = when.astimezone(UTC)
    except (ValueError, TypeError, OverflowError):
        raise errors.InvalidInput.field("cursor", "is not a cursor this server issued") from None
    assert isinstance(score, int)  # checked by _whole above
    assert isinstance(cid, int)
    return SortKey(pinned=bool(pinned), score=score, created=when, id=cid)


def encode_offset(offset: int) -> str:
    return _b64(["r", offset])


def decode_offset(cursor: str) -> int:
    data = _unb64(cursor)
    if len(data) != 2 or data[0] != "r" or not _whole(data[1], 0, MAX_OFFSET):
        raise errors.InvalidInput.field("cursor", "is not a cursor this server issued")
    offset = data[1]
    assert isinstance(offset, int)
    return offset


def _whole(value: object, low: int, high: int) -> bool:
    """An int (not a bool) in ``[low, high)``."""
    return isinstance(value, int) and not isinstance(value, bool) and low <= value < high
