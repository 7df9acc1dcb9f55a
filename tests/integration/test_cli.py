"""The kolokol command as an administrator uses it: serve, token create, contacts import, logs."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.support.environment import kolokol_environment
from tests.support.paths import REPO
from tests.support.serving import serving
from tests.support.waiting import wait_until

ROOT = REPO


def kolokol(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kolokol", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
        cwd=ROOT,
    )


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    return kolokol_environment(
        tmp_path, KOLOKOL_DATABASE__URL=f"sqlite+aiosqlite:///{tmp_path / 'k.sqlite3'}", **extra
    )


def get(url: str, token: str | None = None) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(  # noqa: S310 - loopback test server
        url, headers={"Authorization": f"Bearer {token}"} if token else {}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310 - loopback test server
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_serve_answers_health_and_stops_cleanly_with_secret_kept_out_of_logs(tmp_path: Path) -> None:
    with socket.socket() as no_asterisk:
        # Bound and never listening: AMI connects are refused for the whole test, and no other process
        # can take the port meanwhile. AMI stays down; the service must not.
        no_asterisk.bind(("127.0.0.1", 0))
        env = environment(
            tmp_path,
            KOLOKOL_PBX__ASTERISK__PORT=str(no_asterisk.getsockname()[1]),
            KOLOKOL_PBX__ASTERISK__USERNAME="kolokol",
            KOLOKOL_PBX__ASTERISK__SECRET="s3cr3t-never-logged",
            KOLOKOL_LOG__FORMAT="json",
            KOLOKOL_LOG__LEVEL="DEBUG",
        )
        token = kolokol("token", "create", "--role", "manager", "--name", "Ольга", env=env).stdout.strip()
        assert token.startswith("kk_")
        with serving(tmp_path, env) as served:
            assert get(served.url + "healthz") == (200, {"status": "ok"})
            status, body = get(served.url + "readyz")
            assert status == 503
            assert body["details"]["components"] == {"database": True, "ami": False}
            # Recordings never make a node unready; their state rides along.
            assert body["details"]["recordings"]["backlog"] == 0
            status, body = get(served.url + "api/calls", token)
            assert (status, body["total"]) == (200, 0)
            wait_until(lambda: '"logger": "kolokol.ami' in served.said(), "the failed AMI connect in the log")
    assert served.proc.returncode == 0, served.said()
    stderr = served.said()
    assert "s3cr3t-never-logged" not in stderr
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert lines, "logs are JSON lines"
    assert any(line["logger"].startswith("kolokol.ami") for line in lines), "the failed AMI connect is logged"


def test_contacts_import_from_an_excel_export(tmp_path: Path) -> None:
    csv_file = tmp_path / "patients.csv"
    rows = [
        "Код;ФИО;Телефон;Куратор",
        "1;Иванова Мария;8 (916) 123-45-67, +7 903 111-22-33;Ольга",
        ";Без кода;8916",
    ]
    csv_file.write_bytes(("\r\n".join(rows) + "\r\n").encode("cp1251"))
    env = environment(tmp_path)
    result = kolokol("contacts", "import", str(csv_file), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1 contacts created, 0 updated, 1 warnings"
    assert "line 3" in result.stderr
    again = kolokol("contacts", "import", str(csv_file), env=env)
    assert again.stdout.strip() == "0 contacts created, 1 updated, 1 warnings"


def test_contacts_import_refuses_garbage_and_changes_nothing(tmp_path: Path) -> None:
    garbage = tmp_path / "x.csv"
    garbage.write_bytes(bytes(range(256)))
    env = environment(tmp_path)
    result = kolokol("contacts", "import", str(garbage), env=env)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_configuration_exits_2_with_the_key(tmp_path: Path) -> None:
    env = environment(tmp_path, KOLOKOL_HTTP__PORT="eighty")
    result = kolokol("migrate", env=env)
    assert result.returncode == 2
    assert "http.port" in result.stderr
