"""GET /t/v1/snippet.js: the website snippet, served by kolokol itself (no CDN: a first-party path on the
clinic's own domain is what keeps ad-blockers' lists of tracker domains from catching it).

The file is read once, when the app is built: compacted (indentation, blank and comment-only lines
dropped: about a fifth smaller gzipped than the commented source) and gzipped then, so a request costs
a dictionary lookup. Browsers keep it five minutes and revalidate with its ETag; the path is versioned
(`/t/v1/`), so a kolokol upgrade that changes the script keeps what pages rely on.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

SNIPPET = Path(__file__).parent / "snippet" / "snippet.js"
CACHE_CONTROL = "public, max-age=300, stale-while-revalidate=3600"


def compact(source: str) -> str:
    """The script without indentation, blank lines and lines that are only a `//` comment.

    Safe for this file because it has no template literals (a test keeps it so): no string or regular
    expression spans lines, and every line break it had is still there, so no statement changes.
    """
    kept = (line.strip() for line in source.splitlines())
    return "".join(line + "\n" for line in kept if line and not line.startswith("//"))


@dataclass(frozen=True)
class ServedScript:
    plain: bytes
    gzipped: bytes
    etag: str  # of the plain bytes; the gzipped ones answer with "<etag>-gz" (another representation)

    @classmethod
    def of(cls, source: str) -> ServedScript:
        plain = compact(source).encode("utf-8")
        digest = hashlib.sha256(plain).hexdigest()[:24]
        return cls(plain=plain, gzipped=gzip.compress(plain, compresslevel=9, mtime=0), etag=digest)

    @classmethod
    def load(cls, path: Path | None = None) -> ServedScript:
        return cls.of((path or SNIPPET).read_text(encoding="utf-8"))


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header allows gzip (RFC 9110: "gzip;q=0" refuses it, "*" allows it
    unless gzip itself is refused)."""
    star: float | None = None
    for item in accept_encoding.split(","):
        coding, _, params = item.strip().partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        coding = coding.strip().lower()
        if coding in ("gzip", "x-gzip"):
            return weight > 0
        if coding == "*":
            star = weight
    return star is not None and star > 0


def etag_matches(if_none_match: str, etags: tuple[str, ...]) -> bool:
    """If-None-Match's weak comparison: any listed tag, weak or strong, or "*"."""
    for item in if_none_match.split(","):
        tag = item.strip()
        if tag == "*":
            return True
        tag = tag.removeprefix("W/").strip('"')
        if tag in etags:
            return True
    return False


def snippet_handler(script: ServedScript) -> Callable[[web.Request], Awaitable[web.Response]]:
    tags = (script.etag, script.etag + "-gz")

    async def snippet(request: web.Request) -> web.Response:
        gzipped = accepts_gzip(request.headers.get("Accept-Encoding", ""))
        headers = {
            "Content-Type": "application/javascript; charset=utf-8",
            "Cache-Control": CACHE_CONTROL,
            "ETag": f'"{tags[1] if gzipped else tags[0]}"',
            "Vary": "Accept-Encoding",
            "X-Content-Type-Options": "nosniff",
            # Loaded by the clinic's pages, which are another origin when kolokol has its own domain.
            "Cross-Origin-Resource-Policy": "cross-origin",
        }
        if etag_matches(request.headers.get("If-None-Match", ""), tags):
            return web.Response(status=304, headers=headers)
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        return web.Response(body=script.gzipped if gzipped else script.plain, headers=headers)

    return snippet


def setup(app: web.Application) -> None:
    app.router.add_get("/t/v1/snippet.js", snippet_handler(ServedScript.load()))
