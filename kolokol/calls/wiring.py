"""The domain objects built from settings, the same way for the live service, replay and the CLI."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kolokol.calls.branches import BranchRules
from kolokol.calls.pipeline import CallPipeline
from kolokol.phones import PhoneNormalizer
from kolokol.settings import Settings
from pbx.assembler import CallAssembler
from pbx.channels import ChannelClassifier
from pbx.webhooks.base import WebhookAdapter
from pbx.webhooks.generic import Generic
from pbx.webhooks.mango_office import MangoOffice
from pbx.webhooks.megafon_vats import MegafonVats
from pbx.webhooks.telnyx import Telnyx
from pbx.webhooks.twilio import Twilio
from pbx.webhooks.zadarma import Zadarma


def make_phones(settings: Settings) -> PhoneNormalizer:
    phones = settings.phones
    return PhoneNormalizer(phones.default_region, phones.max_extension_digits, phones.trunk_prefixes)


def make_classifier(settings: Settings) -> ChannelClassifier:
    """Which Asterisk endpoints are phones (and their extensions) and which are outside lines."""
    phones = settings.phones
    return ChannelClassifier(
        max_extension_digits=phones.max_extension_digits,
        phones=phones.endpoints,
        phone_patterns=phones.endpoint_patterns,
        trunks=phones.trunk_endpoints,
        trunk_patterns=phones.trunk_endpoint_patterns,
        extensions=phones.extensions,
    )


def make_assembler(settings: Settings, phones: PhoneNormalizer, *, live: bool = False) -> CallAssembler:
    return CallAssembler(
        phones.e164,
        classifier=make_classifier(settings),
        settle_seconds=settings.calls.settle_seconds,
        stale_after_seconds=settings.calls.stale_after_seconds,
        live=live,
    )


def make_pipeline(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> CallPipeline:
    lookback = settings.calls.first_time_lookback_days
    e164 = make_phones(settings).e164
    return CallPipeline(
        sessions,
        sla=timedelta(minutes=settings.tasks.sla_minutes),
        first_time_lookback=timedelta(days=lookback) if lookback else None,
        branches=BranchRules.build(settings.calls.branch_by_number, settings.calls.branch_by_extension, e164),
        e164=e164,
        plan_recordings=settings.recordings.enabled,
    )


def make_webhook_adapters(settings: Settings, phones: PhoneNormalizer) -> dict[str, WebhookAdapter]:
    """One adapter per configured ``[pbx.<provider>]`` section; unconfigured providers are not mounted."""
    pbx = settings.pbx
    e164 = phones.e164
    adapters: dict[str, WebhookAdapter] = {}
    if (mango := pbx.mango_office) is not None:
        adapters["mango_office"] = MangoOffice(
            mango.vpbx_api_key, mango.vpbx_api_salt.get_secret_value(), e164, mango.allow_ips
        )
    if (zadarma := pbx.zadarma) is not None:
        adapters["zadarma"] = Zadarma(
            zadarma.api_key, zadarma.api_secret.get_secret_value(), zadarma.timezone, e164, zadarma.allow_ips
        )
    if (megafon := pbx.megafon_vats) is not None:
        adapters["megafon_vats"] = MegafonVats(megafon.crm_token.get_secret_value(), e164, megafon.allow_ips)
    if (twilio := pbx.twilio) is not None:
        adapters["twilio"] = Twilio(
            twilio.account_sid,
            twilio.auth_token.get_secret_value(),
            twilio.public_base_url,
            e164,
            ring=twilio.ring,
            dial_timeout_seconds=twilio.dial_timeout_seconds,
            record=twilio.record,
            allow_ips=twilio.allow_ips,
        )
    if (telnyx := pbx.telnyx) is not None:
        adapters["telnyx"] = Telnyx(
            telnyx.public_key,
            e164,
            tolerance_seconds=telnyx.tolerance_seconds,
            app_answers_inbound=telnyx.app_answers_inbound,
            allow_ips=telnyx.allow_ips,
        )
    if (generic := pbx.generic) is not None:
        adapters["generic"] = Generic(
            e164,
            secret=generic.secret.get_secret_value() if generic.secret else None,
            url_token=generic.url_token.get_secret_value() if generic.url_token else None,
            tolerance_seconds=generic.tolerance_seconds,
            allow_ips=generic.allow_ips,
        )
    return adapters
