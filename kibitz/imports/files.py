"""Opening an import file: plain, gzip-compressed (as Disqus delivers exports) or a zip archive of one
file (as some WordPress tools save them), read as a stream; a truncated or corrupt archive, or a
whole-document format past its size cap, is refused with a clear message."""

from __future__ import annotations

import gzip
import json
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from kibitz.imports.records import Refused

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
MAX_DOCUMENT = 64 << 20  # bytes of a format that is one JSON document (read whole, so capped)


@contextmanager
def open_input(path: Path) -> Iterator[BinaryIO]:
    """The file's bytes, unpacked when it is gzip or zip (recognised by its first bytes, not its name)."""
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise Refused(f"cannot read {path.name}: {exc.strerror or exc}") from None
    with raw:
        magic = raw.read(4)
        raw.seek(0)
        try:
            if magic.startswith(GZIP_MAGIC):
                with gzip.GzipFile(fileobj=raw, mode="rb") as unpacked:
                    yield unpacked  # type: ignore[misc]
            elif magic == ZIP_MAGIC:
                with zipfile.ZipFile(raw) as archive:
                    members = [m for m in archive.infolist() if not m.is_dir()]
                    if len(members) != 1:
                        raise Refused(
                            f"{path.name} holds {len(members)} files; an import reads a zip of one file"
                        )
                    with archive.open(members[0]) as member:
                        yield member  # type: ignore[misc]
            else:
                yield raw
        except (EOFError, zlib.error, gzip.BadGzipFile, zipfile.BadZipFile) as exc:
            raise Refused(f"{path.name} is not a complete archive ({exc}); nothing was imported") from None


def read_document(path: Path) -> Any:
    """A file that is one JSON document (Commento, Isso's generic format), read whole up to a cap."""
    with open_input(path) as stream:
        raw = stream.read(MAX_DOCUMENT + 1)
    if len(raw) > MAX_DOCUMENT:
        raise Refused(f"{path.name} is larger than {MAX_DOCUMENT >> 20} MB of JSON; nothing was imported")
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise Refused(f"{path.name} is not valid UTF-8 (byte {exc.start}); nothing was imported") from None
    except (ValueError, RecursionError) as exc:
        raise Refused(f"{path.name} is not valid JSON ({exc}); nothing was imported") from None
