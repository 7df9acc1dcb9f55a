"""Which bytes of a stored recording a GET asks for: the whole file, one range, or none it could have.

Pure (RFC 9110 §13.1.5 and §14): the request's ``Range`` and ``If-Range`` against the recording's size,
ETag and modification time. The decisions that are ours to make:

- Several ranges (``bytes=0-99,200-299``) get the whole file with 200. Browsers and download tools ask
  for one range at a time; a multipart answer would serve nobody, and serving only the first range would
  answer a question that was not asked.
- A range unit other than ``bytes`` is ignored (200, the whole file), as the RFC requires.
- A malformed byte range (``bytes=abc``, ``bytes=9-3``, ``bytes=-0``) and one starting at or past the
  end are 416 with ``Content-Range: bytes */<size>``: a client that sends them has a bug worth seeing.
- ``If-Range`` with anything but the current strong ETag or the exact Last-Modified date gets the whole
  file (200): the client's partial copy is of something else.

aiohttp's FileResponse does not give this (it answers several ranges with 416, ignores an ETag in
If-Range, and serves the whole file for ``bytes=-0``), hence this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

# 19 digits hold any file size; longer numbers are refused rather than turned into huge ints.
_SPEC = re.compile(r"(\d{0,19})-(\d{0,19})", re.ASCII)


@dataclass(frozen=True, slots=True)
class Whole:
    """200: the whole recording."""


@dataclass(frozen=True, slots=True)
class Part:
    """206: bytes ``start`` to ``end`` inclusive, within the file."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


@dataclass(frozen=True, slots=True)
class Unsatisfiable:
    """416: no byte of the file answers the request."""

    @staticmethod
    def content_range(size: int) -> str:
        return f"bytes */{size}"


Selection = Whole | Part | Unsatisfiable


def select(range_header: str | None, size: int) -> Selection:
    """What a ``Range`` header asks of a file of ``size`` bytes."""
    if range_header is None:
        return Whole()
    unit, equals, specs = range_header.partition("=")
    if unit.strip().lower() != "bytes":
        return Whole()
    if not equals:
        return Unsatisfiable()
    parts = [spec.strip() for spec in specs.split(",")]
    if len(parts) > 1:
        return Whole() if all(_SPEC.fullmatch(p) for p in parts) else Unsatisfiable()
    return _one(parts[0], size)


def _one(spec: str, size: int) -> Selection:
    match = _SPEC.fullmatch(spec)
    if match is None:
        return Unsatisfiable()
    first, last = match.group(1), match.group(2)
    if not first:
        # bytes=-n: the last n bytes (all of them when the file is shorter).
        if not last or int(last) == 0 or size == 0:
            return Unsatisfiable()
        return Part(max(0, size - int(last)), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if end < start or start >= size:
        return Unsatisfiable()
    return Part(start, min(end, size - 1))


def range_still_valid(if_range: str | None, *, etag: str, last_modified: datetime) -> bool:
    """Whether a Range request may be answered with part of the file: no ``If-Range``, or one naming
    the file as it is now (the strong ETag, or exactly its Last-Modified date)."""
    if if_range is None:
        return True
    value = if_range.strip()
    if value.startswith(('"', "W/")):
        # A weak ETag never matches here (RFC 9110 §13.1.5: strong comparison).
        return value == etag
    try:
        date = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return False
    if date.tzinfo is None:
        return False
    return date == last_modified.replace(microsecond=0)


def choose(
    range_header: str | None, if_range: str | None, *, size: int, etag: str, last_modified: datetime
) -> Selection:
    """The answer to a GET: ``select`` when ``If-Range`` allows a part, else the whole file."""
    if range_header is None or not range_still_valid(if_range, etag=etag, last_modified=last_modified):
        return Whole()
    return select(range_header, size)
