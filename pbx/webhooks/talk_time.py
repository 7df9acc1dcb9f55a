"""Placing a provider's talk time on the clock when its notifications carry no times of their own.

Zadarma and MegaFon report how long a call was talked (``duration``) but not when it was answered or
ended: those moments are known only from when their notifications *arrived*, which is as good as the
delivery. An end notification that comes late, or an answer and an end delivered together once kolokol is
reachable again (the PBX retried them), would otherwise make the talk time whatever the delays were: a
95-second call could come out as 0 seconds. So the provider's figure *is* the talk time, and arrivals only
say where it lies.
"""

from __future__ import annotations

from datetime import datetime, timedelta

# Arrivals jitter and providers count whole seconds: an answer "fits" its talk time within this.
SLACK = timedelta(seconds=2)
# An answer placed later than this after the start is taken for a delivery delay, not a wait.
MAX_WAIT = timedelta(minutes=10)


def place_talk(
    *,
    started: datetime,
    talk: timedelta,
    answer_arrived: datetime | None,
    end_arrived: datetime,
    max_wait: timedelta = MAX_WAIT,
) -> tuple[datetime, datetime]:
    """When a call talked for ``talk`` was answered, and when it ended.

    In turn: the answer notification's arrival, when the talk fits between it and the end notification's
    arrival (deliveries on time, or only the end late); else the end notification's arrival minus the
    talk (no answer notification, or it came late or together with the end). An answer placed more than
    ``max_wait`` after the start says the deliveries were late (a backlog, retries after an outage): then
    nothing is known of the wait, and the talk is put right at the start.
    """
    candidates = [end_arrived - talk]
    if answer_arrived is not None and answer_arrived + talk <= end_arrived + SLACK:
        candidates.insert(0, answer_arrived)
    answered = next((at for at in candidates if at <= started + max_wait), started)
    answered = max(answered, started)
    return answered, answered + talk
