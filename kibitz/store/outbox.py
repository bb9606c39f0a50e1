"""The outbox: mail rows written in the transaction that caused them, claimed and marked by the worker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from kibitz.store.schema import outbox

if TYPE_CHECKING:
    from kibitz.store.tx import Tx


@dataclass(frozen=True)
class NewMail:
    site: str
    kind: str  # confirm | reply | thread | digest | newsletter
    dedupe_key: str  # what caused it, e.g. "comment:42"; one mail per (cause, recipient)
    recipient: str
    subject: str
    text_body: str
    html_body: str
    list_unsubscribe: str = ""
    subscriber_id: int | None = None
    subscription_id: int | None = None
    comment_id: int | None = None


class OutboxRepo:
    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    async def enqueue(self, mail: NewMail, now: datetime) -> bool:
        """Add a mail unless one for the same cause and recipient exists; True when added."""
        stmt = (
            self.tx.upsert(outbox)
            .values(
                site=mail.site,
                kind=mail.kind,
                dedupe_key=mail.dedupe_key,
                recipient=mail.recipient,
                subscriber_id=mail.subscriber_id,
                subscription_id=mail.subscription_id,
                comment_id=mail.comment_id,
                subject=mail.subject,
                text_body=mail.text_body,
                html_body=mail.html_body,
                list_unsubscribe=mail.list_unsubscribe,
                next_attempt=now,
                created=now,
            )
            .on_conflict_do_nothing(index_elements=["dedupe_key", "recipient"])
        )
        result = await self.tx.conn.execute(stmt)
        return bool(result.rowcount)
