"""The README's nginx block, as the README writes it, in front of a real kolokol: the clinic's page, served
by nginx, loads the snippet through the clinic's own `/kk/t/` and shows a leased number; only the
tracking paths reach kolokol; kolokol, told to trust that nginx, takes the visitor's address from its
X-Forwarded-For. Debian's nginx (`nginx-light`), as root in one process with everything in tmp_path;
without it these tests skip, loudly."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser

from tests.browser.server import Kolokol
from tests.support.paths import REPO
from tests.support.snippet_pages import (
    CLINIC,
    CLOCK_START,
    POOL,
    WATCH,
    answered,
    page_html,
    put_site,
    respelled,
    sessions_stored,
)

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
KOLOKOL_IN_README = "http://127.0.0.1:8080/"
VISITOR = "203.0.113.7"


def readme_nginx_block() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("### The website snippet", 1)[1].split("\n### ", 1)[0]
    found = re.search(r"```nginx\n(.*?)```", section, re.DOTALL)
    assert found, "README's website snippet section shows an nginx block"
    return found.group(1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def nginx_conf(prefix: Path, port: int, www: Path, block: str) -> str:
    temp = " ".join(
        f"{name}_temp_path {prefix / name};" for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""
daemon off;
master_process off;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"};
events {{ worker_connections 64; }}
http {{
    access_log off;
    {temp}
    types {{ text/html html; }}
    server {{
        listen 127.0.0.1:{port};
        root {www};
{block}
    }}
}}
"""


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def kolokol_settings() -> dict[str, Any]:
    return {"tracking": {"trusted_proxies": ["127.0.0.1"]}}


@pytest.fixture
def nginx(kolokol: Kolokol, tmp_path: Path) -> Iterator[str]:
    """nginx with the README's block passing to this kolokol, serving tmp_path/www; its base URL."""
    if not Path(NGINX).exists():
        pytest.skip("!!! NGINX TESTS SKIPPED: no nginx (apt-get install nginx-light) !!!")
    block = readme_nginx_block()
    assert KOLOKOL_IN_README in block
    block = block.replace(KOLOKOL_IN_README, kolokol.base_url + "/")
    prefix, www = tmp_path / "nginx", tmp_path / "www"
    prefix.mkdir()
    www.mkdir()
    # nginx cannot be given port 0: a port the system just handed out, again if another process took it.
    for _ in range(5):
        port = free_port()
        (prefix / "nginx.conf").write_text(nginx_conf(prefix, port, www, block), encoding="utf-8")
        proc = subprocess.Popen(
            [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "error.log")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while proc.poll() is None and not listening(port) and time.monotonic() < deadline:
            time.sleep(0.02)
        if proc.poll() is None and listening(port):
            break
        proc.kill()
        proc.wait()
        if "Address already in use" not in (prefix / "error.log").read_text(errors="replace"):
            raise AssertionError("nginx did not start: " + (prefix / "error.log").read_text(errors="replace"))
    else:
        raise AssertionError("nginx found no free port in 5 tries")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(30)


def fetch(url: str) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback test server
            return answer.status, dict(answer.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


def test_the_readme_block_serves_the_snippet_from_the_clinics_own_domain(
    kolokol: Kolokol, nginx: str, tmp_path: Path, chromium: Browser
) -> None:
    put_site(kolokol, [nginx])
    written = "+7 (495) 111-00-01"
    (tmp_path / "www" / "index.html").write_text(
        page_html(f'<p id="phone">{written}</p><a id="call" href="tel:+74951110001">Позвонить</a>'),
        encoding="utf-8",
    )
    # The visitor's browser is on nginx's own address here: the header it sends stands for what a CDN
    # in front of nginx would add, which kolokol takes because it trusts the hops after it.
    context = chromium.new_context(extra_http_headers={"X-Forwarded-For": VISITOR})
    try:
        context.add_init_script(WATCH)
        page = context.new_page()
        page.clock.install(time=CLOCK_START)
        page.clock.pause_at(CLOCK_START + timedelta(seconds=1))
        with page.expect_response("**/kk/t/v1/snippet.js") as snippet:
            page.goto(nginx + "/index.html")
        assert snippet.value.headers["content-type"] == "application/javascript; charset=utf-8"
        assert snippet.value.headers.get("content-encoding") == "gzip"
        detail = answered(page)
        assert detail["error"] is None
        number = detail["numbers"][CLINIC]
        assert number in POOL
        assert page.text_content("#phone") == respelled(written, number)
        assert page.get_attribute("#call", "href") == f"tel:{number}"
    finally:
        context.close()
    (stored,) = sessions_stored(kolokol)
    assert stored.address == VISITOR


def test_only_the_tracking_paths_reach_kolokol(kolokol: Kolokol, nginx: str) -> None:
    status, headers = fetch(nginx + "/kk/t/v1/snippet.js")
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert fetch(kolokol.url("/healthz"))[0] == 200
    assert fetch(nginx + "/kk/healthz")[0] == 404, "kolokol's other paths stay off the clinic's site"
    assert fetch(nginx + "/kk/api/tracking/sites")[0] == 404
