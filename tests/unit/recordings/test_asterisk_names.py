"""Recording names from Asterisk: both spellings name one file in the monitor directory; tricks refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from recordings.asterisk_names import BadName, local_path, relative_name

MONITOR = "/var/spool/asterisk/monitor"


def test_the_absolute_mixmonitor_name_and_our_relative_name_are_the_same_file() -> None:
    absolute = f"{MONITOR}/2026/12/03/1764751234.12.wav"
    assert relative_name(absolute, MONITOR) == "2026/12/03/1764751234.12.wav"
    assert relative_name("2026/12/03/1764751234.12.wav", MONITOR) == "2026/12/03/1764751234.12.wav"
    assert relative_name(absolute, MONITOR + "/") == "2026/12/03/1764751234.12.wav"


def test_redundant_slashes_and_dots_are_tidied() -> None:
    assert relative_name("2026//12/./03/x.wav", MONITOR) == "2026/12/03/x.wav"


def test_the_name_is_read_under_the_local_directory() -> None:
    got = local_path(f"{MONITOR}/2026/12/03/x.wav", MONITOR, "/mnt/pbx-monitor")
    assert got == Path("/mnt/pbx-monitor/2026/12/03/x.wav")


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("../../etc/passwd", "'..'"),
        ("2026/../../x.wav", "'..'"),
        (f"{MONITOR}/../secrets/x.wav", "'..'"),
        ("/etc/passwd", "not inside Asterisk's monitor directory"),
        ("/var/spool/asterisk/monitor-other/x.wav", "not inside"),
        (MONITOR, "not inside"),
        ("x\0.wav", "control characters"),
        ("x\n.wav", "control characters"),
        ("..\\..\\x.wav", "backslash"),
        ("", "no file name"),
        ("   ", "no file name"),
        (".", "no file name"),
        ("a" * 2000, "longer than 1024"),
        ("a" * 300 + ".wav", "longer than 255 bytes"),
    ],
)
def test_names_leading_elsewhere_are_refused_with_a_reason(name: str, said: str) -> None:
    with pytest.raises(BadName, match=None) as refused:
        relative_name(name, MONITOR)
    assert said in str(refused.value)
