"""The captures recorded from the real Asterisk (scripts/record-ami-fixtures), replayed through
`kolokol replay`'s code path: the same records as the live test expects, with no Asterisk running."""

from __future__ import annotations

import io
import json

import pytest

from kolokol.calls.replay import replay
from kolokol.settings import Settings
from pbx.ami_framing import AmiFramer
from tests.support.expected_calls import EXPECTED, HARNESS_SETTINGS, assert_matches
from tests.support.paths import AMI_CAPTURES

CAPTURES = AMI_CAPTURES
# The harness clinic's phone configuration; the first 17 captures come out the same with the defaults.
SETTINGS = Settings.model_validate(HARNESS_SETTINGS)


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
async def test_recorded_capture_replays_to_the_expected_records(scenario: str) -> None:
    out = io.StringIO()
    status = await replay([str(CAPTURES / f"{scenario}.ami")], SETTINGS, use_config_db=False, out=out)
    assert status == 0
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert_matches(records, EXPECTED[scenario], timed=True)


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
async def test_any_tcp_split_gives_the_same_records(scenario: str) -> None:
    """Bytes cut at arbitrary points (as TCP delivers them) parse to exactly the same events."""
    data = (CAPTURES / f"{scenario}.ami").read_bytes()
    whole = AmiFramer().feed(data)
    for size in (1, 7, 113, 1460):
        framer = AmiFramer()
        pieces = [m for start in range(0, len(data), size) for m in framer.feed(data[start : start + size])]
        assert pieces == whole


async def test_all_captures_in_one_replay_keep_one_task_per_number() -> None:
    out = io.StringIO()
    files = [str(CAPTURES / f"{name}.ami") for name in sorted(EXPECTED)]
    assert await replay(files, SETTINGS, use_config_db=False, out=out) == 0
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(records) == sum(len(v) for v in EXPECTED.values())
    open_tasks = {
        r["callback_task"]["id"]
        for r in records
        if r["callback_task"] and r["callback_task"]["status"] == "open"
    }
    assert len(open_tasks) <= 1, "one open task per outside number, however many misses"
