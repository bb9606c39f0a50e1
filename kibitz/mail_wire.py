"""The bytes an outbox row's mail goes out as, written directly: ``EmailMessage`` took some 2 ms a mail
(more than the rest of a send). Values that need RFC 2047 or folding still go through the email
package's header classes, cached per value, so they come out as it writes them."""

from __future__ import annotations

import binascii
import email.policy
import re
import secrets
from functools import lru_cache
from urllib.parse import urlsplit

from kibitz.store.outbox import OutboxRow

__all__ = ["AUTO_SUBMITTED_KINDS", "envelope_address", "mail_bytes", "message_id"]

# Notifications and confirmations are machine-made (RFC 3834): autoresponders must not answer them.
AUTO_SUBMITTED_KINDS = frozenset({"confirm", "reply", "thread", "digest", "manage", "moderation", "update"})
POLICY = email.policy.SMTP
MAX_LINE = 78  # RFC 5322's advice; a body line longer than this is quoted-printable encoded
# Printable ASCII without spaces: such a value can go into a header as it is (it cannot be folded).
_PLAIN = re.compile(r"[\x21-\x7e]{1,900}")
_SIMPLE_TEXT = re.compile(r"[\x20-\x7e]*")


def message_id(outbox_id: int, base_url: str) -> str:
    """Stable per outbox row, so a resend after a crash is recognisable as the same mail."""
    host = urlsplit(base_url).hostname or "localhost"
    return f"<kibitz.{outbox_id}@{host}>"


def _no_breaks(name: str, value: str) -> None:
    # What EmailMessage refuses too: a CR or LF would start a header of the sender's choosing (T43).
    if "\r" in value or "\n" in value:
        raise ValueError(f"header {name} contains a line break")


@lru_cache(maxsize=512)
def _folded(name: str, value: str) -> bytes:
    """``Name: value`` as the email package folds and encodes it (RFC 2047 for non-ASCII)."""
    _no_breaks(name, value)
    header = POLICY.header_factory(name, value)
    text: str = header.fold(policy=POLICY)
    return text.encode("ascii")


def _header(name: str, value: str) -> bytes:
    """A header line; plain ASCII values (addresses, ids, URLs) without the email package's cost."""
    _no_breaks(name, value)
    if _PLAIN.fullmatch(value) or (len(value) <= MAX_LINE - len(name) - 2 and _SIMPLE_TEXT.fullmatch(value)):
        return f"{name}: {value}\r\n".encode("ascii")
    return _folded(name, value)


@lru_cache(maxsize=64)
def envelope_address(sender: str) -> str:
    """The bare address of a ``From`` value ("Name <a@b>" → "a@b"), for MAIL FROM."""
    from email.utils import parseaddr

    return parseaddr(sender)[1] or sender


@lru_cache(maxsize=256)
def _date(created_iso: str) -> bytes:
    from datetime import datetime
    from email.utils import format_datetime

    return f"Date: {format_datetime(datetime.fromisoformat(created_iso))}\r\n".encode("ascii")


def _part(subtype: str, body: str) -> bytes:
    """One text part: 7bit when it is short-lined ASCII, else quoted-printable (UTF-8)."""
    lines = body.splitlines()
    data = "\n".join(lines) + "\n"
    if data.isascii() and all(len(line) <= MAX_LINE for line in lines):
        cte, payload = "7bit", data.encode("ascii")
    else:
        cte = "quoted-printable"
        payload = binascii.b2a_qp(data.encode("utf-8"), quotetabs=False, istext=True, header=False)
    head = f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: {cte}\r\n\r\n'
    return head.encode("ascii") + payload.replace(b"\n", b"\r\n")


def mail_bytes(row: OutboxRow, sender: str, base_url: str) -> bytes:
    """The whole message of ``row`` (CRLF line ends), from ``sender`` (the ``From`` value).

    A header value holding CR or LF raises ValueError, so no header can be injected (QUALITY T43).
    """
    head = [
        _folded("From", sender),
        _header("To", row.recipient),
        _folded("Subject", row.subject),
        _date(row.created.isoformat()),
        _header("Message-ID", message_id(row.id, base_url)),
    ]
    if row.list_unsubscribe:
        head.append(_header("List-Unsubscribe", f"<{row.list_unsubscribe}>"))
        head.append(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
    if row.kind in AUTO_SUBMITTED_KINDS:
        head.append(b"Auto-Submitted: auto-generated\r\n")
    text = _part("plain", row.text_body)
    html = _part("html", row.html_body)
    # "=_" never occurs in quoted-printable text, and the random part not in 7bit text by chance;
    # checked anyway, since a boundary inside a part would cut it short.
    boundary = f"=_kibitz_{row.id}_{secrets.token_hex(8)}".encode("ascii")
    while boundary in text or boundary in html:
        boundary = f"=_kibitz_{row.id}_{secrets.token_hex(8)}".encode("ascii")
    head.append(b"MIME-Version: 1.0\r\n")
    head.append(b'Content-Type: multipart/alternative; boundary="' + boundary + b'"\r\n\r\n')
    dash = b"--" + boundary
    return b"".join((*head, dash, b"\r\n", text, b"\r\n", dash, b"\r\n", html, b"\r\n", dash, b"--\r\n"))
