"""A provider's talk time placed by when its notifications arrived: the length is the provider's,
whatever the deliveries did."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pbx.webhooks.talk_time import place_talk

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
TALK = timedelta(seconds=95)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("answer_arrived", "end_arrived", "placed", "why"),
    [
        (9, 104, (9, 104), "on time: the answer is when its notification came"),
        (9, 105.4, (9, 104), "arrivals jitter: the talk is still the provider's 95 s"),
        (9, 104 + 180, (9, 104), "the end notification came 3 minutes late: the answer places the talk"),
        (300, 300, (205, 300), "answer and end re-delivered together: the talk ends at the end's arrival"),
        (150, 104, (9, 104), "the answer came after the end (deliveries overtook each other)"),
        (None, 104, (9, 104), "no answer notification (Zadarma's outgoing calls)"),
        (3600, 3601, (0, 95), "an hour's backlog: nothing is known of the wait, the talk starts the call"),
        (None, 60, (0, 95), "an end that came before start + talk (clocks apart): never before the start"),
    ],
)
def test_the_talk_is_the_providers_and_the_arrivals_only_place_it(
    answer_arrived: float | None, end_arrived: float, placed: tuple[float, float], why: str
) -> None:
    answered, ended = place_talk(
        started=T0,
        talk=TALK,
        answer_arrived=at(answer_arrived) if answer_arrived is not None else None,
        end_arrived=at(end_arrived),
    )
    assert (answered, ended) == (at(placed[0]), at(placed[1])), why
    assert ended - answered == TALK


def test_a_shorter_max_wait_takes_a_late_answer_for_a_delivery_delay() -> None:
    answered, ended = place_talk(
        started=T0, talk=TALK, answer_arrived=at(130), end_arrived=at(225), max_wait=timedelta(minutes=2)
    )
    assert (answered, ended) == (T0, at(95))
