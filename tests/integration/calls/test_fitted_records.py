"""A call whose PBX sent more than the call log holds is still recorded, with its contacts and callback
task: an Asterisk caller name of a thousand characters, on both databases."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from kolokol.calls.replay import assemble
from kolokol.calls.wiring import make_pipeline
from kolokol.settings import Settings
from kolokol.storage.engine import make_sessionmaker
from kolokol.storage.tables import Call, CallbackTask
from pbx.ami_framing import read_capture_file
from tests.support.expected_calls import CALLER, HARNESS_SETTINGS, NAME
from tests.support.paths import AMI_CAPTURES

LONG_NAME = "Иван Петрович Сидоров-Кузнецов " * 40  # 1,240 characters


async def test_an_ami_caller_name_over_the_column_is_cut_and_the_call_recorded(engine: AsyncEngine) -> None:
    events = read_capture_file(AMI_CAPTURES / "caller_hangup_while_ringing.ami")
    for event in events:
        for header in ("CallerIDName", "ConnectedLineName", "DestCallerIDName", "DestConnectedLineName"):
            if event.get(header) == NAME:
                event[header] = LONG_NAME
    settings = Settings.model_validate(HARNESS_SETTINGS)
    [record] = assemble([events], settings)
    assert record.caller_name == LONG_NAME.strip(), "the assembler keeps what the PBX sent"

    sessions = make_sessionmaker(engine)
    await make_pipeline(settings, sessions).record_many([record])

    async with sessions() as session:
        [call] = (await session.scalars(select(Call))).all()
        [task] = (await session.scalars(select(CallbackTask))).all()
    assert call.caller_name is not None
    assert call.caller_name == LONG_NAME[:199] + "…"
    assert (call.status, call.caller, call.outside_number) == ("missed", CALLER, CALLER)
    assert (task.number, task.status, task.first_call_id) == (CALLER, "open", call.id)
