"""The domain objects built from settings, the same way for the live service, replay and the CLI."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kolokol.call_pipeline import CallPipeline
from kolokol.phones import PhoneNormalizer
from kolokol.settings import Settings
from pbx.assembler import CallAssembler


def make_phones(settings: Settings) -> PhoneNormalizer:
    phones = settings.phones
    return PhoneNormalizer(phones.default_region, phones.max_extension_digits, phones.trunk_prefixes)


def make_assembler(settings: Settings, phones: PhoneNormalizer) -> CallAssembler:
    return CallAssembler(
        phones.e164,
        max_extension_digits=settings.phones.max_extension_digits,
        settle_seconds=settings.calls.settle_seconds,
        stale_after_seconds=settings.calls.stale_after_seconds,
    )


def make_pipeline(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> CallPipeline:
    lookback = settings.calls.first_time_lookback_days
    return CallPipeline(
        sessions,
        sla=timedelta(minutes=settings.tasks.sla_minutes),
        first_time_lookback=timedelta(days=lookback) if lookback else None,
    )
