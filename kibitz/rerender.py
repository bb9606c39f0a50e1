"""Comments whose stored HTML an older renderer made (``renderer_version`` below
markup.RENDERER_VERSION) rendered again from their text, once, when the schema is brought up to
date (QUALITY R14): rows written before a sanitising step existed, or imported from elsewhere with
their HTML, never reach a reader as they were stored. Idempotent: a second pass finds nothing."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from kibitz import markup

if TYPE_CHECKING:
    from kibitz.config import Settings
    from kibitz.store.db import Database

log = logging.getLogger(__name__)
CHUNK = 500  # comments rendered and written per transaction
DONE_KEY = "rendered_with"  # meta: the renderer version every comment was last brought up to


async def rerender_stale(db: Database, settings: Settings) -> int:
    """Render again every comment an older renderer made; how many. Images stay only on sites whose
    settings allow them (a site gone from the settings: none). A deleted comment keeps no HTML."""
    version = markup.RENDERER_VERSION
    async with db.read() as tx:
        if await tx.meta.get(DONE_KEY) == str(version):
            return 0  # every start after the first: not even a scan
    images = {site.id: site.allow_images for site in settings.sites}
    done, after = 0, 0
    while True:
        async with db.write() as tx:
            rows = await tx.comments.stale_renders(version, after, CHUNK)
            for row in rows:
                html = (
                    "" if row.deleted else markup.render(row.text, allow_images=images.get(row.site, False))
                )
                await tx.comments.set_render(row.id, html, version)
        if not rows:
            break
        done += len(rows)
        after = rows[-1].id
        log.info("rendered %d stored comments again (renderer %d)", done, version)
    async with db.write() as tx:
        await tx.meta.put(DONE_KEY, str(version))
    return done
