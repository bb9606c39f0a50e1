"""Ban rules: ban an author by email, reader id, address (IPv6 by /64), network or display name,
with expiry and reason; a shadow ban lets its author see their comments while nobody else does.

A ban "from a comment" takes that comment's email, reader id or address hash, which moderators
never see: addresses are kept only as keyed hashes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from ipaddress import ip_network

from kibitz import errors, inputs
from kibitz.config import SiteConfig
from kibitz.models import Ban, BanKind
from kibitz.policy import Policies
from kibitz.store.db import Database
from kibitz.wordlists import fold

Clock = Callable[[], datetime]


def _canonical(kind: BanKind, value: str, policies: Policies) -> tuple[str, str]:
    """(value stored, label shown) for a ban given by value."""
    value = value.strip()
    if not value:
        raise errors.InvalidInput.field("value", "is required (or give a comment)")
    if kind is BanKind.EMAIL:
        email = inputs.email(value, "value")
        return email.lower(), email
    if kind is BanKind.READER:
        if len(value) > 64:
            raise errors.InvalidInput.field("value", "is not a reader id")
        return value, value
    if kind is BanKind.ADDRESS:
        try:
            hashed = policies.address_hash(str(ip_network(value, strict=False).network_address))
        except ValueError:
            raise errors.InvalidInput.field("value", "must be an IPv4 or IPv6 address") from None
        return hashed, "an address"
    if kind is BanKind.NETWORK:
        try:
            network = ip_network(value, strict=False)
        except ValueError:
            raise errors.InvalidInput.field("value", "must be a network like 203.0.113.0/24") from None
        if (network.num_addresses > 2**64 and network.version == 6) or network.prefixlen < 8:
            raise errors.InvalidInput.field("value", "is too wide a network")
        return str(network), str(network)
    folded = fold(value)
    if not folded or len(folded) > 320:
        raise errors.InvalidInput.field("value", "must be a display name")
    return folded, value[:320]


class Bans:
    def __init__(self, db: Database, policies: Policies, clock: Clock) -> None:
        self.db = db
        self.policies = policies
        self.clock = clock

    async def add(
        self,
        site: SiteConfig,
        kind: str,
        *,
        actor: str,
        value: str | None = None,
        comment_id: int | None = None,
        shadow: bool = False,
        expires: datetime | None = None,
        reason: str = "",
    ) -> Ban:
        try:
            ban_kind = BanKind(kind)
        except ValueError:
            raise errors.InvalidInput.field(
                "kind", "must be email, reader, address, network or name"
            ) from None
        now = self.clock()
        if expires is not None and expires <= now:
            raise errors.InvalidInput.field("expires", "must be in the future")
        reason = " ".join(reason.split())[:500]
        async with self.db.write() as tx:
            if comment_id is not None:
                comment = await tx.comments.get(comment_id)
                if comment is None or comment.site != site.id:
                    raise errors.NotFound("No such comment")
                stored, label = {
                    BanKind.EMAIL: (comment.author.email.lower(), f"the email of comment {comment.id}"),
                    BanKind.READER: (comment.reader_id, f"the reader of comment {comment.id}"),
                    BanKind.ADDRESS: (comment.client_hash, f"the address of comment {comment.id}"),
                    BanKind.NAME: (fold(comment.author.name), comment.author.name),
                }.get(ban_kind, ("", ""))
                if not stored:
                    raise errors.InvalidInput.field(
                        "kind", f"comment {comment.id} has no {ban_kind.value} to ban"
                    )
            else:
                stored, label = _canonical(ban_kind, value or "", self.policies)
            ban = await tx.bans.add(
                site.id,
                ban_kind,
                stored,
                label=label,
                shadow=shadow,
                reason=reason,
                created=now,
                created_by=actor,
                expires=expires,
            )
            await tx.audit.record(
                at=now,
                site=site.id,
                actor=actor,
                action="ban.add",
                target=f"ban:{ban.id}",
                detail={"kind": ban_kind.value, "label": label, "shadow": shadow, "reason": reason,
                        "comment": comment_id, "expires": expires.isoformat() if expires else None},
            )  # fmt: skip
        return ban

    async def listing(self, site_id: str) -> list[Ban]:
        async with self.db.read() as tx:
            return await tx.bans.listing(site_id, self.clock())

    async def remove(self, site_id: str, ban_id: int, actor: str) -> None:
        now = self.clock()
        async with self.db.write() as tx:
            ban = await tx.bans.get(site_id, ban_id)
            if ban is None:
                raise errors.NotFound("No such ban")
            await tx.bans.remove(site_id, ban_id)
            await tx.audit.record(
                at=now, site=site_id, actor=actor, action="ban.lift", target=f"ban:{ban_id}",
                detail={"kind": ban.kind.value, "label": ban.label},
            )  # fmt: skip
