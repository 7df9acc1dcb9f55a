"""Events stored but not yet built when kolokol stopped are built after the next start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from kolokol.calls.cloud_intake import WebhookIntake, _Submission
from kolokol.calls.pipeline import CallPipeline
from kolokol.phones import PhoneNormalizer
from kolokol.storage.engine import make_sessionmaker
from kolokol.storage.tables import Call
from pbx.webhooks.base import WebhookRequest
from pbx.webhooks.mango_office import MangoOffice
from tests.support.providers.mango_office import KEY, SALT, form, inbound_missed


async def test_a_restart_builds_what_was_stored_before_the_stop(engine: AsyncEngine) -> None:
    sessions = make_sessionmaker(engine)
    adapter = MangoOffice(KEY, SALT, PhoneNormalizer().e164)

    def intake() -> WebhookIntake:
        pipeline = CallPipeline(sessions, sla=timedelta(minutes=15))
        return WebhookIntake({"mango_office": adapter}, sessions, pipeline, stale_after=timedelta(hours=4))

    now = datetime.now(UTC)
    submissions = []
    for path, payload in inbound_missed("CRASH1"):
        body = form(payload)
        request = WebhookRequest("POST", path, "", {}, body, "application/x-www-form-urlencoded", None, now)
        submissions.append(_Submission("mango_office", adapter.handle(request).events, now))
    # The first process stores the events (the PBX got its 200) and stops before building the record.
    await intake()._store(submissions)
    async with sessions() as session:
        assert (await session.scalars(select(Call))).all() == []

    second = intake()
    second.start()
    await second.settle()
    await second.stop()
    async with sessions() as session:
        [call] = (await session.scalars(select(Call))).all()
    assert (call.pbx_call_id, call.status, call.callback_task_id is not None) == ("CRASH1", "missed", True)
