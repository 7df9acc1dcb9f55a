"""How the snippet is served: compacted once, gzip when the client takes it, revalidated by ETag."""

from __future__ import annotations

import gzip

import pytest

from calltracking.snippet_http import SNIPPET, ServedScript, accepts_gzip, compact, etag_matches


def test_compacting_drops_indentation_blank_lines_and_comment_lines_only() -> None:
    source = '/* head */\n(function () {\n  // why\n\n  var a = "http://x"; // after code\n})();\n'
    assert compact(source) == '/* head */\n(function () {\nvar a = "http://x"; // after code\n})();\n'


def test_the_snippet_stays_safe_to_compact_and_small() -> None:
    source = SNIPPET.read_text(encoding="utf-8")
    # Compacting trims every line: a template literal spanning lines would change.
    assert "`" not in source
    served = ServedScript.of(source)
    assert gzip.decompress(served.gzipped) == served.plain
    assert len(served.gzipped) <= 5 * 1024, f"{len(served.gzipped)} bytes gzipped: the target is 5 KB"


@pytest.mark.parametrize(
    ("header", "gzip_ok"),
    [
        ("gzip, deflate, br, zstd", True),
        ("br;q=1.0, gzip;q=0.8, *;q=0.1", True),
        ("GZIP", True),
        ("x-gzip", True),
        ("", False),
        ("identity", False),
        ("br", False),
        ("gzip;q=0", False),
        ("gzip;q=0.0, *", False),
        ("*", True),
        ("*;q=0", False),
        ("gzip;q=nonsense", False),
    ],
)
def test_gzip_is_sent_only_when_the_client_accepts_it(header: str, gzip_ok: bool) -> None:
    assert accepts_gzip(header) is gzip_ok


def test_if_none_match_compares_weakly() -> None:
    tags = ("abc", "abc-gz")
    assert etag_matches('"abc"', tags)
    assert etag_matches('W/"abc-gz"', tags)
    assert etag_matches('"other", "abc"', tags)
    assert etag_matches("*", tags)
    assert not etag_matches('"abd"', tags)
    assert not etag_matches("", tags)
