"""Moderators from the publisher's own login: when a site allows it (``sso_moderators``), a reader
its SSO token marks ``moderator`` moderates that site's comments from the widget, with the desk's own
rules (moderation.py: the same acts, the same audit, the same events and webhooks).

Only the publisher's login grants the role (accounts.Profile.roles is set by sso.py alone), and only
a session that signed in through it carries the rights: an account that also signs in by a mailed
link or a provider does not moderate from those sessions. Everything is read again in the act's own
transaction: a session ended, a role taken away at the next SSO sign-in, or the setting turned off
refuse the act at once, and nothing changes. The audit log names the account (``account:<id>``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kibitz import errors
from kibitz.accounts import SSO, Reader
from kibitz.config import SiteConfig
from kibitz.models import QueueItem
from kibitz.moderation import Moderation
from kibitz.policy import Policies
from kibitz.store.tx import Tx

MODERATOR = "moderator"
# The acts a reader moderator may take: all the desk's except "restore" (back to the queue, which a
# reader moderator does not see).
ACTIONS = ("approve", "reject", "spam", "pin", "unpin", "feature", "unfeature")


def actor(reader: Reader) -> str:
    """How the audit log names a reader moderator (no address: erasure leaves nothing to scrub)."""
    return f"account:{reader.account.id}"


def allowed(site: SiteConfig, reader: Reader) -> bool:
    """``site`` as in force now: it allows moderators from its login, and this session is one."""
    return (
        site.sso_moderators
        and reader.account.site == site.id
        and reader.via == SSO
        and MODERATOR in reader.account.roles
    )


class ReaderModeration:
    def __init__(self, moderation: Moderation, policies: Policies) -> None:
        self.moderation = moderation
        self.policies = policies

    async def may(self, site: SiteConfig, reader: Reader) -> bool:
        """Whether the reader may moderate the site's comments now (the widget shows its menu)."""
        return allowed(await self.policies.current(site), reader)

    async def act(
        self, site: SiteConfig, reader: Reader, comment_id: int, action: str, reason: str = ""
    ) -> QueueItem:
        """One act on one comment of ``site``; 403 ``forbidden`` (nothing changed) unless allowed."""
        if action not in ACTIONS:
            raise errors.InvalidInput.field("action", "must be one of " + ", ".join(ACTIONS))
        if reader.account.site != site.id:
            raise errors.Forbidden("This sign-in is for another site")
        clock = self.moderation.clock

        async def check(tx: Tx) -> dict[str, Any]:
            session = await tx.accounts.session(reader.token_hash)
            account = await tx.accounts.get(reader.account.id)
            now: datetime = clock()
            if session is None or account is None or session.expires <= now:
                raise errors.SessionInvalid()
            current = Reader(account, reader.token_hash, session.via)
            if not allowed(await self.policies.effective(tx, site), current):
                raise errors.Forbidden("Not allowed")
            return {"via": "sso"}

        return await self.moderation.act(site, comment_id, action, actor(reader), reason, check=check)
