"""Settings: one TOML file plus ``KOLOKOL_<SECTION>__<KEY>`` environment overrides, read once and frozen."""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

ENV_PREFIX = "KOLOKOL_"
# The languages of the pages (the first is the default unless console.default_language says otherwise).
LANGUAGES = ("ru", "en")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_PUBLIC_URL = r"^https?://[^/?#\s]+/?$"


class HttpSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    # PBX webhooks are small; anything bigger is refused with 413 before it is read.
    webhook_max_body_bytes: int = Field(64 * 1024, ge=1024, le=1024 * 1024)
    # A request body must arrive within body_timeout_seconds, with no pause longer than
    # body_read_timeout_seconds (408 otherwise): slow senders cannot hold connections open.
    body_timeout_seconds: float = Field(30, gt=0, le=3600)
    body_read_timeout_seconds: float = Field(10, gt=0, le=3600)
    # An idle connection, or one whose request line and headers take longer than this, is closed.
    idle_timeout_seconds: float = Field(75, gt=0, le=3600)
    # The address browsers use for the console ("https://kolokol.clinic"), when it is not host:port
    # (a reverse proxy). Its origin may open the feed, and https makes session cookies Secure.
    public_url: str | None = Field(None, pattern=_PUBLIC_URL)


class FeedSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8081, ge=0, le=65535)
    # Browser pages allowed to open the feed (their Origin header), e.g. "https://kolokol.clinic".
    allowed_origins: tuple[str, ...] = ()
    # Signs the short-lived feed tokens; set it when several nodes serve the feed (default: per process).
    token_secret: SecretStr | None = Field(None, min_length=32)
    token_ttl_seconds: int = Field(60, ge=5, le=3600)
    # The feed's address as browsers reach it ("wss://kolokol.clinic/feed") behind a proxy; default:
    # ws://<the host the page was loaded from>:<port>/.
    public_url: str | None = Field(None, pattern=r"^wss?://[^?#\s]+$")
    # How often open feed connections are checked against their logins and API tokens (from the
    # database, so a logout on another node or `kolokol user disable` counts): an ended one is closed.
    login_check_seconds: float = Field(3, gt=0, le=60)


class DatabaseSettings(_Section):
    url: str = "sqlite+aiosqlite:///var/kolokol.sqlite3"


_EXTENSION = re.compile(r"[0-9]{2,8}")


def _listed(value: Any) -> Any:
    # From the environment a list is comma-separated text.
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class PhoneSettings(_Section):
    default_region: str = "RU"
    max_extension_digits: int = Field(5, ge=2, le=8)
    trunk_prefixes: tuple[str, ...] = ()
    # Which Asterisk endpoints are the clinic's phones and which are outside lines (pbx.channels:
    # ChannelClassifier). The endpoint is the name between "PJSIP/"/"SIP/" and the channel's sequence
    # number: "SIP/150010001-0000002a" -> "150010001". Lists take "name" or "TECH/name".
    endpoints: tuple[str, ...] = ()
    # Full-match regular expressions; None: 2..max_extension_digits digits (FreePBX names phones so).
    endpoint_patterns: tuple[str, ...] | None = None
    trunk_endpoints: tuple[str, ...] = ()
    trunk_endpoint_patterns: tuple[str, ...] = ()
    # Endpoint -> the extension people know the phone by ("150010001" -> "201"); such an endpoint is a
    # phone. Click-to-call rings the endpoint of the extension it is asked for.
    extensions: dict[str, str] = Field(default_factory=dict)

    @field_validator("endpoints", "trunk_endpoints", mode="before")
    @classmethod
    def _names_from_text(cls, value: Any) -> Any:
        return _listed(value)

    @field_validator("endpoint_patterns", "trunk_endpoint_patterns", mode="before")
    @classmethod
    def _one_pattern_from_text(cls, value: Any) -> Any:
        # From the environment: one pattern (commas belong to regular expressions; join with "|").
        return [value] if isinstance(value, str) else value

    @field_validator("extensions", mode="before")
    @classmethod
    def _pairs_from_text(cls, value: Any) -> Any:
        # From the environment: "150010001=201,150010002=202".
        if isinstance(value, str):
            pairs = [item.partition("=") for item in value.split(",") if item.strip()]
            return {key.strip(): ext.strip() for key, _, ext in pairs}
        if isinstance(value, dict):
            # TOML lets people write 201 unquoted.
            return {key: str(ext) if isinstance(ext, int) else ext for key, ext in value.items()}
        return value

    @field_validator("endpoints", "trunk_endpoints")
    @classmethod
    def _endpoint_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            _check_endpoint(name)
        return value

    @field_validator("endpoint_patterns", "trunk_endpoint_patterns")
    @classmethod
    def _patterns(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for pattern in value or ():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a regular expression ({exc})") from None
        return value

    @field_validator("extensions")
    @classmethod
    def _extension_map(cls, value: dict[str, str]) -> dict[str, str]:
        for endpoint, extension in value.items():
            _check_endpoint(endpoint)
            if not _EXTENSION.fullmatch(extension):
                raise ValueError(f"{endpoint!r}: extension {extension!r} is not 2-8 digits")
        seen: dict[str, str] = {}
        for endpoint, extension in value.items():
            if extension in seen:
                raise ValueError(
                    f"extension {extension!r} is given to both {seen[extension]!r} and {endpoint!r}"
                )
            seen[extension] = endpoint
        return value

    @model_validator(mode="after")
    def _phone_or_trunk(self) -> PhoneSettings:
        both = set(self.trunk_endpoints) & (set(self.endpoints) | set(self.extensions))
        if both:
            raise ValueError(f"endpoints listed both as phones and as trunks: {sorted(both)}")
        return self


def _check_endpoint(name: str) -> None:
    if not name or name.startswith("Local/") or name.count("/") > 1 or any(c.isspace() for c in name):
        raise ValueError(f'{name!r} is not an endpoint name (e.g. "reception" or "SIP/reception")')


class AsteriskSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(5038, ge=1, le=65535)
    username: str
    secret: SecretStr
    action_timeout_seconds: float = Field(5.0, gt=0)
    ping_interval_seconds: float = Field(10.0, gt=0)
    # Click-to-call: the operator's phone is rung on this channel, then the number is dialled in this
    # context as if typed on the phone (FreePBX: "from-internal"; chan_sip phones: "SIP/{extension}").
    # "{extension}" stands for the phone's endpoint: the extension, or the endpoint phones.extensions
    # gives that extension.
    originate_channel: str = Field("PJSIP/{extension}", pattern=r"^[A-Za-z0-9_]+/.*\{extension\}.*$")
    originate_context: str = Field("phones", pattern=r"^[A-Za-z0-9_.-]+$")
    # How the number reaches that context: "e164" (+79161234567), "digits" (79161234567) or
    # "national" (89161234567: the clinic's own country written nationally; other countries as e164).
    originate_number_format: Literal["e164", "digits", "national"] = "e164"
    originate_ring_seconds: int = Field(30, ge=5, le=120)

    @model_validator(mode="before")
    @classmethod
    def _moved_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and "trunk_channel_prefixes" in data:
            raise ValueError(
                "trunk_channel_prefixes is gone: name outside lines with phones.trunk_endpoints or "
                "phones.trunk_endpoint_patterns (e.g. ['trunk.*'])"
            )
        return data


class _Webhook(_Section):
    # Addresses or networks allowed to deliver (empty: any). Defence in depth next to the signature.
    allow_ips: tuple[str, ...] = ()

    @field_validator("allow_ips")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            ipaddress.ip_network(entry, strict=False)
        return value


_API_BASE_URL = r"^https?://[^?#\s]+$"


class MangoOfficeSettings(_Webhook):
    vpbx_api_key: str = Field(min_length=1)
    vpbx_api_salt: SecretStr
    # Where recordings are requested (a fake provider in tests).
    api_base_url: str = Field("https://app.mango-office.ru/vpbx", pattern=_API_BASE_URL)


class ZadarmaSettings(_Webhook):
    api_key: str = Field(min_length=1)
    api_secret: SecretStr
    api_base_url: str = Field("https://api.zadarma.com", pattern=_API_BASE_URL)
    # Zadarma writes call_start in the account's own time zone ("Settings -> time zone" in its cabinet).
    timezone: str = "Europe/Moscow"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class MegafonVatsSettings(_Webhook):
    crm_token: SecretStr
    # The VPBX API key (not crm_token): sent as X-API-KEY when downloading a call's recording link.
    api_key: SecretStr | None = None


class TwilioSettings(_Webhook):
    account_sid: str = Field(min_length=1)
    auth_token: SecretStr
    # The public address Twilio calls (scheme, host, port): signatures cover the URL as Twilio saw it,
    # which a reverse proxy changes.
    public_base_url: str = Field(pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$")
    # Extension -> what <Dial> rings for it on an incoming call ("sip:...", "client:...", "+7...").
    ring: dict[str, str] = Field(default_factory=dict)
    dial_timeout_seconds: int = Field(30, ge=5, le=600)
    record: bool = False
    api_base_url: str = Field("https://api.twilio.com", pattern=_API_BASE_URL)


class TelnyxSettings(_Webhook):
    public_key: str = Field(min_length=40)
    tolerance_seconds: int = Field(300, ge=1, le=3600)
    # A Call Control application answers incoming calls itself (greeting, IVR): then only an answered
    # outgoing leg to an operator means a person took the call.
    app_answers_inbound: bool = True
    api_base_url: str = Field("https://api.telnyx.com", pattern=_API_BASE_URL)
    # Refreshes a recording's pre-signed link once it expired (without it such a recording fails).
    api_key: SecretStr | None = None


class GenericSettings(_Webhook):
    # HMAC-SHA256 signing secret for PBXs that can sign; url_token for those that cannot (a secret URL).
    secret: SecretStr | None = Field(None, min_length=16)
    url_token: SecretStr | None = Field(None, min_length=32)
    tolerance_seconds: int = Field(300, ge=1, le=3600)


class PbxSettings(_Section):
    asterisk: AsteriskSettings | None = None
    mango_office: MangoOfficeSettings | None = None
    zadarma: ZadarmaSettings | None = None
    megafon_vats: MegafonVatsSettings | None = None
    twilio: TwilioSettings | None = None
    telnyx: TelnyxSettings | None = None
    generic: GenericSettings | None = None


class CallSettings(_Section):
    # A call with no event for this long is closed as it stands (a lost hang-up must not keep it open).
    stale_after_seconds: float = Field(4 * 3600, gt=0)
    # Late events (a queue leave after the last hang-up) arrive within this grace after the call ends.
    settle_seconds: float = Field(2.0, ge=0)
    first_time_lookback_days: int | None = Field(None, ge=1)
    # A call's branch when attribution names none (kolokol.calls.branches): by the clinic number (the
    # number dialled, or the outgoing line; any spelling), else by the operator's extension.
    branch_by_number: dict[str, str] = Field(default_factory=dict)
    branch_by_extension: dict[str, str] = Field(default_factory=dict)

    @field_validator("branch_by_number", "branch_by_extension", mode="before")
    @classmethod
    def _branch_pairs(cls, value: Any) -> Any:
        # From the environment: "+74951234567=Center,+74957654321=North"; in TOML keys may be unquoted
        # numbers and branches anything printable.
        if isinstance(value, str):
            pairs = [item.partition("=") for item in value.split(",") if item.strip()]
            return {key.strip(): branch.strip() for key, _, branch in pairs}
        return value

    @field_validator("branch_by_number", "branch_by_extension")
    @classmethod
    def _branch_names(cls, value: dict[str, str]) -> dict[str, str]:
        for key, branch in value.items():
            if not key.strip() or not branch.strip() or len(branch) > 100:
                raise ValueError(f"{key!r} -> {branch!r}: a branch is 1-100 characters")
        return value


class TaskSettings(_Section):
    sla_minutes: float = Field(15, gt=0)
    # "Not reached" brings a task back after this long; the max_attempts-th "not reached" closes it.
    retry_after_minutes: float = Field(30, gt=0, le=7 * 24 * 60)
    max_attempts: int = Field(3, ge=1, le=100)
    # A close or "not reached" by hand can be undone this long afterwards.
    undo_seconds: float = Field(10, ge=0, le=600)


class WebSettings(_Section):
    """Logins to the console pages."""

    # A session ends after this long without a request (a receptionist's shift), or this long after
    # login whatever happens.
    session_idle_minutes: int = Field(12 * 60, ge=5, le=7 * 24 * 60)
    session_max_hours: int = Field(24, ge=1, le=30 * 24)
    # Failed logins allowed per username and per address in a minute before further tries get 429.
    login_attempts_per_minute: int = Field(10, ge=1, le=1000)


class LineSettings(_Section):
    """A clinic number callers dial: what the card shows for it."""

    name: str = Field(min_length=1, max_length=100)
    branch: str | None = Field(None, max_length=100)


class ConsoleSettings(_Section):
    # "ru" or "en": the pages' language unless the user picks the other one.
    default_language: str = Field("ru", pattern="^(ru|en)$")
    # Link from a caller card to the contact in the clinic's CRM; {external_id} and {phone} (E.164)
    # are filled in, e.g. "https://crm.clinic/patients/{external_id}".
    crm_contact_url: str | None = Field(None, pattern=r"^https?://\S+$")
    # A callback task turns amber this many minutes before it is due (red once overdue).
    task_warning_minutes: int = Field(5, ge=0, le=24 * 60)


class TrackingSettings(_Section):
    """Call tracking (calltracking/). Numbers, sites and pools live in the database, not here."""

    # Reports count days and months in the clinic's time zone.
    timezone: str = "Europe/Moscow"
    # A "target call" (a real inquiry) talked at least this long.
    target_call_seconds: int = Field(60, ge=0, le=3600)
    # Pool sizing aims at this share of visitors shown the fallback number (Erlang-B).
    overflow_target: float = Field(0.01, gt=0, lt=0.5)
    # The public endpoints (/t/v1/session, /t/v1/heartbeat): requests per minute from one address
    # (429 beyond, with Retry-After); per process.
    public_requests_per_minute: int = Field(120, ge=1, le=100_000)
    # Sessions one address may hold whose pages have not heartbeated yet (bots opening sessions in a
    # loop): further opens get 429 until those leases run out. 0: no limit.
    unconfirmed_per_address: int = Field(10, ge=0, le=100_000)
    # A visitor session ends after this long without a page asking (a heartbeat then gets 404).
    session_idle_minutes: int = Field(30, ge=1, le=24 * 60)
    # Reverse proxies (addresses or networks) whose X-Forwarded-For names the visitor's address; from
    # anyone else the header is ignored.
    trusted_proxies: tuple[str, ...] = ()

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies_from_text(cls, value: Any) -> Any:
        return _listed(value)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            ipaddress.ip_network(entry, strict=False)
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class RecordingSettings(_Section):
    """Call recordings (recordings/): collected, transcoded, stored, kept for retention_days."""

    enabled: bool = True
    # Relative to kolokol's home (kolokol.home); the audio is stored by call date under it.
    storage_dir: str = "var/recordings"
    format: Literal["opus", "mp3"] = "opus"
    bitrate_kbps: int = Field(24, ge=8, le=320)
    keep_originals: bool = False
    # 0: kept forever. A branch listed in retention_days_by_branch keeps its own number of days.
    retention_days: int = Field(365, ge=0, le=36500)
    retention_days_by_branch: dict[str, int] = Field(default_factory=dict)
    # Asterisk's monitor directory and where kolokol reads that same directory (a file named under the
    # first is read under the second).
    asterisk_monitor_dir: str = "/var/spool/asterisk/monitor"
    asterisk_local_dir: str = "/var/spool/asterisk/monitor"
    # The file must not change for this long after the call ended before it is taken.
    asterisk_stable_seconds: float = Field(3, ge=0, le=3600)
    # A file that never appears or never stops growing fails after this long.
    asterisk_file_timeout_seconds: float = Field(600, gt=0, le=7 * 24 * 3600)
    upload_max_bytes: int = Field(256 * 1024 * 1024, ge=1024)
    fetch_timeout_seconds: float = Field(60, gt=0, le=3600)
    fetch_max_bytes: int = Field(256 * 1024 * 1024, ge=1024)
    # A cloud recording is retried with backoff for this long, then marked failed with the last reason.
    fetch_give_up_hours: float = Field(72, gt=0, le=30 * 24)
    # Transcoding processes at once (the process pool's size).
    workers: int = Field(2, ge=1, le=64)
    # Which recordings operators may hear: "all", "own" (calls on their extensions) or "none".
    operators_listen: Literal["all", "own", "none"] = "own"
    link_ttl_seconds: int = Field(3600, ge=10, le=7 * 24 * 3600)
    # Signs the links; default: a secret generated once and kept in the database (shared by every node).
    link_secret: SecretStr | None = Field(None, min_length=32)

    @field_validator("retention_days_by_branch", mode="before")
    @classmethod
    def _days_from_text(cls, value: Any) -> Any:
        # From the environment: "Center=30,North=90".
        if isinstance(value, str):
            pairs = [item.partition("=") for item in value.split(",") if item.strip()]
            return {key.strip(): days.strip() for key, _, days in pairs}
        return value

    @field_validator("retention_days_by_branch")
    @classmethod
    def _days(cls, value: dict[str, int]) -> dict[str, int]:
        for branch, days in value.items():
            if not 0 <= days <= 36500:
                raise ValueError(f"{branch!r}: {days} days is not 0..36500 (0 keeps forever)")
        return value


class LogSettings(_Section):
    level: str = "INFO"
    format: str = Field("auto", pattern="^(auto|json|console)$")


class Settings(_Section):
    http: HttpSettings = HttpSettings()
    feed: FeedSettings = FeedSettings()
    database: DatabaseSettings = DatabaseSettings()
    phones: PhoneSettings = PhoneSettings()
    pbx: PbxSettings = PbxSettings()
    calls: CallSettings = CallSettings()
    tasks: TaskSettings = TaskSettings()
    web: WebSettings = WebSettings()
    console: ConsoleSettings = ConsoleSettings()
    # Clinic numbers (any spelling, keyed as written) -> their name and branch, shown on caller cards.
    lines: dict[str, LineSettings] = Field(default_factory=dict)
    tracking: TrackingSettings = TrackingSettings()
    recordings: RecordingSettings = RecordingSettings()
    log: LogSettings = LogSettings()

    @model_validator(mode="after")
    def _lines_are_numbers(self) -> Settings:
        from kolokol.phones import PhoneNormalizer

        phones = PhoneNormalizer(self.phones.default_region, self.phones.max_extension_digits)
        for number in self.lines:
            if phones.e164(number) is None:
                raise ValueError(f"lines: {number!r} is not a phone number")
        for number in self.calls.branch_by_number:
            if phones.e164(number) is None:
                raise ValueError(f"calls.branch_by_number: {number!r} is not a phone number")
        return self


class SettingsError(ValueError):
    """The configuration cannot be used; the message names the file and key."""


def _apply_env(tree: dict[str, Any], environ: Mapping[str, str]) -> None:
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name == "KOLOKOL_CONFIG":
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
        if len(path) < 2 or not all(path):
            continue
        node = tree
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise SettingsError(f"{name}: {part} is not a section")
            node = child
        leaf = path[-1]
        # Lists come from the environment as comma-separated text.
        node[leaf] = (
            [item.strip() for item in value.split(",") if item.strip()]
            if leaf.endswith("prefixes") or leaf in ("allow_ips", "allowed_origins")
            else value
        )


def load_settings(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the TOML file (``path`` or ``KOLOKOL_CONFIG``), overlay the environment, validate."""
    env = os.environ if environ is None else environ
    chosen = path if path is not None else env.get("KOLOKOL_CONFIG")
    tree: dict[str, Any] = {}
    if chosen:
        try:
            tree = tomllib.loads(Path(chosen).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise SettingsError(f"config file not found: {chosen}") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError(f"config file {chosen} is not valid TOML: {exc}") from exc
    _apply_env(tree, env)
    try:
        return Settings.model_validate(tree)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        if not where:
            # A check across sections names its key in the message itself.
            raise SettingsError(f"invalid setting {first['msg'].removeprefix('Value error, ')}") from exc
        raise SettingsError(f"invalid setting {where}: {first['msg']}") from exc
