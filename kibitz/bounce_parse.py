"""Bounces and complaints read from raw mail: delivery status notifications (DSN, RFC 3464) and abuse
feedback reports (ARF, RFC 5965). Pure functions on bytes; bad input finds nothing and never raises.

What a report says about each recipient becomes a ``Found``:

- ``message/delivery-status``: per recipient, ``Action: failed`` with a ``5.x.x`` status is ``hard``
  (except ``5.2.2``, a full mailbox, which empties again: ``soft``); ``failed`` with ``4.x.x`` (a
  server that gave up retrying) and ``Action: delayed`` are ``soft``; ``delivered``, ``relayed`` and
  ``expanded`` are no bounce at all.
- ``message/feedback-report``: ``Feedback-Type`` abuse, fraud, virus or other is a ``complaint`` about
  the recipient in ``Original-Rcpt-To``, or else the ``To`` of the returned message.

The outbox row a report answers comes from a signed return path (VERP: ``verp`` maps an address to
an outbox id when its signature holds) named in the report, or else from the returned message's
``Message-ID``, which Kibitz derives from the outbox id (kibitz/mailer.py ``message_id``).
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.message import Message
from email.utils import getaddresses

MAX_REPORT = 2 * 1024 * 1024  # bytes; a larger "report" is not one
MAX_FOUND = 100  # recipients taken from one report
MAX_PARTS = 200  # MIME parts looked at in one report
MAX_DETAIL = 500
COMPLAINT_TYPES = frozenset({"abuse", "fraud", "virus", "other"})
# Permanent by its class, passing in practice: a full mailbox.
SOFT_PERMANENT = frozenset({"5.2.2"})
_MESSAGE_ID = re.compile(r"<?\s*kibitz\.([1-9][0-9]{0,17})@([^<>\s@]+?)\s*>?", re.IGNORECASE)
_STATUS = re.compile(r"(?<![0-9.])([245])\.([0-9]{1,3})\.([0-9]{1,3})(?![0-9])")
_REPLY_CODE = re.compile(r"(?<![0-9])([245])[0-9]{2}(?![0-9])")
_UTF8_ESCAPE = re.compile(r"\\x\{([0-9A-Fa-f]{1,6})\}")
_ADDRESS = re.compile(r"[^\s@<>,;\"]{1,256}@[^\s@<>,;\"]{1,255}")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]+")
# Where a report may name the return path the original mail had: a signed VERP address.
_RETURN_PATH_FIELDS = ("original-mail-from",)
_ENVELOPE_HEADERS = ("return-path",)
_REPORT_HEADERS = ("to", "delivered-to", "x-original-to", "envelope-to")

Fields = dict[str, list[str]]
VerpReader = Callable[[str], int | None]


@dataclass(frozen=True)
class Found:
    """One recipient's bounce or complaint, as a report states it."""

    email: str  # as the report names it; "" when an abuse report redacts it
    kind: str  # hard | soft | complaint
    detail: str  # the status and diagnostic, or the feedback type, in one line
    outbox_id: int | None  # the Kibitz mail it answers, when the report shows which


def outbox_id_of(message_id: str, host: str | None = None) -> int | None:
    """The outbox id in a Kibitz Message-ID (``<kibitz.42@host>``, brackets optional), or None; with
    ``host``, only a Message-ID of that host counts."""
    found = _MESSAGE_ID.fullmatch(message_id.strip()) if len(message_id) <= 400 else None
    if found is None or (host is not None and found.group(2).lower().rstrip(".") != host.lower()):
        return None
    return int(found.group(1))


def parse(data: bytes, *, host: str | None = None, verp: VerpReader | None = None) -> list[Found]:
    """Every bounce and complaint the report ``data`` states; [] for anything else (a vacation reply,
    a non-standard bounce, garbage). ``host``: the host of Kibitz's Message-IDs; ``verp``: reads the
    outbox id out of a signed return path."""
    try:
        if not isinstance(data, bytes | bytearray) or len(data) > MAX_REPORT:
            return []
        return _parse(bytes(data), host, verp)[:MAX_FOUND]
    except Exception:  # garbage in: nothing found, never an error (RecursionError included)
        return []


def _parse(data: bytes, host: str | None, verp: VerpReader | None) -> list[Found]:
    message = email.message_from_bytes(data, policy=email.policy.compat32)
    statuses: list[Fields] | None = None
    feedback: list[Fields] | None = None
    returned: Fields | None = None
    for count, part in enumerate(message.walk()):
        if count >= MAX_PARTS:
            break
        ctype = part.get_content_type()
        if ctype in ("message/delivery-status", "message/global-delivery-status") and statuses is None:
            statuses = _blocks(part)
        elif ctype == "message/feedback-report" and feedback is None:
            feedback = _blocks(part)
        elif ctype in ("message/rfc822", "message/global") and returned is None:
            returned = _returned_message(part)
        elif ctype in ("text/rfc822-headers", "message/global-headers") and returned is None:
            returned = _header_block(_text(part))
    if statuses is None and feedback is None:
        return []
    returned = returned or {}
    report_fields = [*(statuses or []), *(feedback or [])]
    outbox_id = _outbox_id(message, report_fields, returned, host, verp)
    found: list[Found] = []
    if statuses:
        found += [Found(address, kind, detail, outbox_id) for address, kind, detail in _delivery(statuses)]
    if feedback:
        found += _complaints(feedback, returned, outbox_id)
    return found


# -- reading the parts ----------------------------------------------------------------------------


def _text(part: Message) -> str:
    raw = part.get_payload(decode=True)
    if isinstance(raw, bytes):
        return raw.decode("utf-8", "replace")
    payload = part.get_payload()
    return payload if isinstance(payload, str) else ""


def _header_block(text: str) -> Fields:
    """The fields of one block of ``Name: value`` lines (folded lines unfolded)."""
    fields: Fields = {}
    name = ""
    for line in text.replace("\r\n", "\n").split("\n"):
        if line[:1] in (" ", "\t") and name:
            fields[name][-1] += " " + line.strip()
            continue
        key, colon, value = line.partition(":")
        key = key.strip().lower()
        if not colon or not key or " " in key:
            name = ""
            continue
        name = key
        fields.setdefault(name, []).append(value.strip())
    return fields


def _text_blocks(text: str) -> list[Fields]:
    blocks = re.split(r"\r?\n[ \t]*\r?\n", text.strip())
    return [fields for fields in (_header_block(block) for block in blocks) if fields]


def _fields(items: Iterable[tuple[str, object]]) -> Fields:
    fields: Fields = {}
    for name, value in items:
        fields.setdefault(name.strip().lower(), []).append(" ".join(str(value).split()))
    return fields


def _blocks(part: Message) -> list[Fields]:
    """The field blocks of a report part: the per-message block, then one per recipient.

    Python's parser splits ``message/delivery-status`` into one header-only message per block; it
    reads any other ``message/*`` as one message whose headers are the first block (and whose body
    holds the rest)."""
    payload = part.get_payload()
    if not isinstance(payload, list):
        return _text_blocks(_text(part))
    blocks: list[Fields] = []
    for sub in payload[: MAX_FOUND + 1]:
        if not isinstance(sub, Message):
            continue
        blocks.append(_fields(sub.items()))
        body = sub.get_payload()
        if isinstance(body, str) and body.strip():
            blocks += _text_blocks(body)
    return [block for block in blocks if block]


def _returned_message(part: Message) -> Fields:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return _fields(payload[0].items())
    return _header_block(_text(part).split("\n\n", 1)[0])


def _first(fields: Fields, name: str) -> str:
    values = fields.get(name)
    return values[0] if values else ""


# -- what they say --------------------------------------------------------------------------------


def _address(value: str) -> str:
    """``rfc822; ann@example.org`` (or ``utf-8; …`` with ``\\x{…}`` escapes) → the address, or ""."""
    kind, semicolon, rest = value.partition(";")
    text = rest if semicolon else kind
    if semicolon and kind.strip().lower() == "utf-8":
        text = _UTF8_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    text = text.strip().strip("<>").strip()
    return text if _ADDRESS.fullmatch(text) else ""


def _one_line(text: str) -> str:
    return " ".join(_CONTROLS.sub(" ", text).split())[:MAX_DETAIL]


def _bounce_kind(action: str, status: str, diagnostic: str) -> str | None:
    if action == "delayed":
        return "soft"
    if action != "failed":
        return None  # delivered, relayed, expanded: not a bounce
    code = _STATUS.search(status) or _STATUS.search(diagnostic)
    if code is not None:
        if code.group(0) in SOFT_PERMANENT:
            return "soft"
        return "hard" if code.group(1) == "5" else "soft"
    reply = _REPLY_CODE.search(diagnostic)
    if reply is not None and reply.group(1) == "4":
        return "soft"
    return "hard"  # "failed" and nothing more: the MTA gave up for good


def _delivery(blocks: list[Fields]) -> list[tuple[str, str, str]]:
    found: list[tuple[str, str, str]] = []
    for block in blocks:
        recipient = _first(block, "final-recipient") or _first(block, "original-recipient")
        action = _first(block, "action").strip().lower()
        if not recipient or not action:
            continue  # the per-message block, or a block with nothing to act on
        address = _address(recipient)
        status, diagnostic = _first(block, "status"), _first(block, "diagnostic-code")
        kind = _bounce_kind(action, status, diagnostic)
        if address and kind:
            detail = _one_line(f"{action} {status} {diagnostic}")
            found.append((address, kind, detail))
    return found


def _complaints(blocks: list[Fields], returned: Fields, outbox_id: int | None) -> list[Found]:
    fields: Fields = {}
    for block in blocks:
        for name, values in block.items():
            fields.setdefault(name, []).extend(values)
    feedback_type = _first(fields, "feedback-type").strip().lower()
    if feedback_type not in COMPLAINT_TYPES:
        return []  # not-spam, auth-failure, or no report at all
    recipients = [_address(value) for value in fields.get("original-rcpt-to", [])]
    if not any(recipients):
        recipients = [_address(address) for _, address in getaddresses(returned.get("to", []))]
    recipients = list(dict.fromkeys(address for address in recipients if address))
    if not recipients and outbox_id is not None:
        recipients = [""]  # redacted: the outbox row knows whom it went to
    agent = _first(fields, "user-agent")
    detail = _one_line(f"feedback-type {feedback_type}" + (f" from {agent}" if agent else ""))
    return [Found(address, "complaint", detail, outbox_id) for address in recipients]


def _outbox_id(
    message: Message, report: list[Fields], returned: Fields, host: str | None, verp: VerpReader | None
) -> int | None:
    if verp is not None:
        candidates = [
            value for block in report for name in _RETURN_PATH_FIELDS for value in block.get(name, [])
        ]
        candidates += [value for name in _ENVELOPE_HEADERS for value in returned.get(name, [])]
        candidates += [str(value) for name in _REPORT_HEADERS for value in message.get_all(name) or []]
        for value in candidates[:50]:
            for _, address in getaddresses([value]):
                found = verp(address) if address else None
                if found is not None:
                    return found
    for value in returned.get("message-id", [])[:5]:
        found = outbox_id_of(value, host)
        if found is not None:
            return found
    return None
