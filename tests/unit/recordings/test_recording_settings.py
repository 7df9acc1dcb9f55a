"""The [recordings] settings and the calls' branch maps: defaults, the environment, bad values refused."""

from __future__ import annotations

import pytest

from kolokol.settings import SettingsError, load_settings


def test_defaults_are_the_documented_ones() -> None:
    settings = load_settings(environ={})
    recordings = settings.recordings
    assert (recordings.enabled, recordings.storage_dir, recordings.format, recordings.bitrate_kbps) == (
        True,
        "var/recordings",
        "opus",
        24,
    )
    assert (recordings.retention_days, recordings.retention_days_by_branch) == (365, {})
    assert recordings.asterisk_monitor_dir == recordings.asterisk_local_dir == "/var/spool/asterisk/monitor"
    assert (recordings.workers, recordings.operators_listen, recordings.link_secret) == (2, "own", None)
    assert settings.calls.branch_by_number == {} and settings.calls.branch_by_extension == {}


def test_maps_come_from_the_environment_as_pairs() -> None:
    settings = load_settings(
        environ={
            "KOLOKOL_CALLS__BRANCH_BY_NUMBER": "+74951110001=Центр, 8 495 222-00-02=Север",
            "KOLOKOL_CALLS__BRANCH_BY_EXTENSION": "201=Юг",
            "KOLOKOL_RECORDINGS__RETENTION_DAYS_BY_BRANCH": "Центр=90,Архив=0",
            "KOLOKOL_RECORDINGS__FORMAT": "mp3",
        }
    )
    assert settings.calls.branch_by_number == {"+74951110001": "Центр", "8 495 222-00-02": "Север"}
    assert settings.calls.branch_by_extension == {"201": "Юг"}
    assert settings.recordings.retention_days_by_branch == {"Центр": 90, "Архив": 0}
    assert settings.recordings.format == "mp3"


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        ("KOLOKOL_RECORDINGS__FORMAT", "wav", "recordings.format"),
        ("KOLOKOL_RECORDINGS__RETENTION_DAYS", "-1", "recordings.retention_days"),
        ("KOLOKOL_RECORDINGS__RETENTION_DAYS_BY_BRANCH", "Центр=-5", "recordings.retention_days_by_branch"),
        ("KOLOKOL_RECORDINGS__OPERATORS_LISTEN", "some", "recordings.operators_listen"),
        ("KOLOKOL_RECORDINGS__LINK_SECRET", "short", "recordings.link_secret"),
        ("KOLOKOL_RECORDINGS__WORKERS", "0", "recordings.workers"),
        ("KOLOKOL_CALLS__BRANCH_BY_NUMBER", "not a number=Центр", "calls.branch_by_number"),
    ],
)
def test_bad_values_stop_start_up_naming_the_key(name: str, value: str, named: str) -> None:
    with pytest.raises(SettingsError, match=named.replace(".", r"\.")):
        load_settings(environ={name: value})
