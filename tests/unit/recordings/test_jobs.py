"""The job rules: backoff with jitter, the deadlines, what each outcome does to the row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from recordings import jobs
from recordings.jobs import JobFacts, Policy
from recordings.outcomes import Failed, RetryLater

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
POLICY = Policy(asterisk_timeout=timedelta(minutes=10), fetch_give_up=timedelta(hours=72))


def job(origin: str = "zadarma", stage: str = "acquire", attempts: int = 0) -> JobFacts:
    return JobFacts(origin, stage, attempts, created_at=T0, call_ended_at=T0 - timedelta(seconds=5))


def test_backoff_doubles_up_to_the_cap_and_jitter_spreads_it_both_ways() -> None:
    middle = [jobs.backoff_seconds(n, POLICY, 0.5) for n in (1, 2, 3, 4)]
    assert middle == [5.0, 10.0, 20.0, 40.0]
    assert jobs.backoff_seconds(40, POLICY, 0.5) == POLICY.max_delay_seconds
    low, high = jobs.backoff_seconds(3, POLICY, 0.0), jobs.backoff_seconds(3, POLICY, 0.999)
    assert low < 20.0 < high
    assert low >= 20.0 * (1 - POLICY.jitter) and high <= 20.0 * (1 + POLICY.jitter)


def test_a_transient_trouble_is_tried_again_later_with_the_attempt_counted() -> None:
    step = jobs.retry(job(attempts=2), RetryLater("the provider answered 503"), T0, POLICY, 0.5)
    assert (step.status, step.stage, step.attempts) == ("pending", "acquire", 3)
    assert step.next_attempt_at == T0 + timedelta(seconds=20)
    assert step.failure is None


def test_the_step_may_name_its_own_delay() -> None:
    step = jobs.retry(job("asterisk"), RetryLater("the file is still growing", 1.0), T0, POLICY, 0.5)
    assert step.next_attempt_at == T0 + timedelta(seconds=1)


def test_a_cloud_recording_gives_up_after_fetch_give_up_hours_with_the_last_reason() -> None:
    late = T0 + timedelta(hours=72)
    step = jobs.retry(job(attempts=30), RetryLater("the provider answered 503"), late, POLICY, 0.5)
    assert step.status == "failed" and step.stage == "done"
    assert step.failure == "Gave up after 72 hours: the provider answered 503"


def test_the_last_try_comes_at_the_deadline_not_after_it() -> None:
    almost = T0 + timedelta(hours=71, minutes=59)
    step = jobs.retry(job(attempts=30), RetryLater("503"), almost, POLICY, 0.5)
    assert step.status == "pending" and step.next_attempt_at == T0 + timedelta(hours=72)


def test_an_asterisk_file_gives_up_after_the_timeout_counted_from_the_calls_end() -> None:
    facts = job("asterisk")
    before = jobs.retry(
        facts,
        RetryLater("the file has not appeared"),
        facts.call_ended_at + timedelta(minutes=9),
        POLICY,
        0.5,
    )
    assert before.status == "pending"
    after = jobs.retry(
        facts,
        RetryLater("the file has not appeared"),
        facts.call_ended_at + timedelta(minutes=10),
        POLICY,
        0.5,
    )
    assert after.status == "failed"
    assert after.failure == "Gave up after 10 minutes: the file has not appeared"


def test_processing_is_retried_a_few_times_only() -> None:
    step = jobs.retry(
        job(stage="process", attempts=POLICY.process_attempts - 1), RetryLater("pool died"), T0, POLICY, 0.5
    )
    assert step.status == "failed" and step.failure is not None and "pool died" in step.failure
    again = jobs.retry(job(stage="process", attempts=0), RetryLater("pool died"), T0, POLICY, 0.5)
    assert (again.status, again.stage) == ("pending", "process")


def test_a_permanent_failure_ends_the_row_with_its_reason() -> None:
    step = jobs.failed(job(), Failed("the provider says the recording is gone (404)"), T0)
    assert (step.status, step.stage) == ("failed", "done")
    assert step.failure == "The provider says the recording is gone (404)"


def test_acquired_goes_on_to_processing_at_once_and_processed_is_ready() -> None:
    assert jobs.acquired(T0) == jobs.Next("pending", "process", 0, T0)
    assert jobs.processed(T0).status == "ready"
