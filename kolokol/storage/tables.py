"""The tables, on SQLite and PostgreSQL alike (times are always timezone-aware UTC)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# Stable constraint names on both backends, so migrations can name what they alter.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware in, timezone-aware out, on SQLite too (which stores no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        from datetime import UTC

        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None


def new_id() -> str:
    return uuid.uuid4().hex


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Contact(Base):
    __tablename__ = "contacts"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(500))
    fields: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    phones: Mapped[list[ContactPhone]] = relationship(
        back_populates="contact", cascade="all, delete-orphan", lazy="selectin"
    )


class ContactPhone(Base):
    __tablename__ = "contact_phones"
    __table_args__ = (UniqueConstraint("contact_id", "number", name="uq_contact_phones_contact_number"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(40), index=True)
    raw: Mapped[str] = mapped_column(String(100))
    contact: Mapped[Contact] = relationship(back_populates="phones")


class Call(Base):
    __tablename__ = "calls"
    __table_args__ = (
        UniqueConstraint("pbx", "pbx_call_id", name="uq_calls_pbx_call"),
        Index("ix_calls_started_at", "started_at"),
        Index("ix_calls_outside_number_started", "outside_number", "started_at"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    pbx: Mapped[str] = mapped_column(String(20))
    pbx_call_id: Mapped[str] = mapped_column(String(200))
    direction: Mapped[str] = mapped_column(String(10))
    caller: Mapped[str] = mapped_column(String(100))
    caller_name: Mapped[str | None] = mapped_column(String(200))
    called: Mapped[str] = mapped_column(String(100))
    outside_number: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(12))
    disposition: Mapped[str] = mapped_column(String(16))
    missed_where: Mapped[str | None] = mapped_column(String(10))
    operator: Mapped[str | None] = mapped_column(String(40), index=True)
    answered_by: Mapped[str | None] = mapped_column(String(40))
    rang: Mapped[list[str]] = mapped_column(JSON, default=list)
    transfers: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime] = mapped_column(UtcDateTime())
    recording_file: Mapped[str | None] = mapped_column(Text)
    recording_ref: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    closed_by_timeout: Mapped[bool] = mapped_column(default=False)
    first_time_caller: Mapped[bool] = mapped_column(default=False)
    contact_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    callback_task_id: Mapped[str | None] = mapped_column(ForeignKey("callback_tasks.id"))
    # Attribution (calltracking): the whole `source` object as the contract shows it, null until the
    # call is attributed; and the fields reports group by, copied out of it into columns (migration 0008).
    source: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    attr_kind: Mapped[str | None] = mapped_column(String(10))
    attr_channel: Mapped[str | None] = mapped_column(String(20))
    attr_source: Mapped[str | None] = mapped_column(String(200))
    attr_medium: Mapped[str | None] = mapped_column(String(200))
    attr_campaign: Mapped[str | None] = mapped_column(String(500))
    attr_content: Mapped[str | None] = mapped_column(String(500))
    attr_term: Mapped[str | None] = mapped_column(String(500))
    attr_landing_page: Mapped[str | None] = mapped_column(String(1000))
    attr_tracking_number: Mapped[str | None] = mapped_column(String(40))
    attr_site: Mapped[str | None] = mapped_column(String(64))
    attr_pool: Mapped[str | None] = mapped_column(String(100))
    attr_branch: Mapped[str | None] = mapped_column(String(100))
    attr_session: Mapped[str | None] = mapped_column(String(32), index=True)
    attr_confidence: Mapped[float | None] = mapped_column(Float)
    # The clinic branch the call belongs to (kolokol.calls.branches): attribution's branch, else the
    # calls.branch_by_number / branch_by_extension settings. Set on every store (migration 0010).
    branch: Mapped[str | None] = mapped_column(String(100), index=True)
    # Only so the unit of work inserts a new task before the call pointing at it; never loaded.
    callback_task: Mapped[CallbackTask | None] = relationship(lazy="raise")


class CallbackTask(Base):
    __tablename__ = "callback_tasks"
    __table_args__ = (
        Index("ix_callback_tasks_number_status", "number", "status"),
        # One open task per number, whoever writes (migration 0004).
        Index(
            "uq_callback_tasks_open_number",
            "number",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    number: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(10), default="open")
    missed_calls: Mapped[int] = mapped_column(Integer, default=1)
    first_missed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_missed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    due_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    assignee: Mapped[str | None] = mapped_column(String(100))
    first_call_id: Mapped[str] = mapped_column(String(32))
    last_call_id: Mapped[str] = mapped_column(String(32))
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    closed_by_call_id: Mapped[str | None] = mapped_column(String(32))
    resolution: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Who closed it by hand (a username or a token's name); null when a call closed it.
    closed_by: Mapped[str | None] = mapped_column(String(100))
    # Calls back that did not reach the patient ("not reached"); the task waits until next_attempt_at.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_attempt_by: Mapped[str | None] = mapped_column(String(100))
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Bumped by every change, so a screen can tell a newer state of a task from an older one.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # The last action by hand, to undo it for a few seconds: {"action", "by", "until", "before": {the
    # fields it changed, as they were}, "after": {as it left them}} (kolokol.tasks.actions).
    undo: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class WebhookEvent(Base):
    """The inbox: every verified cloud PBX event, stored once (duplicates share the dedupe key)."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        UniqueConstraint("provider", "dedupe_key", name="uq_webhook_events_provider_dedupe_key"),
        Index("ix_webhook_events_provider_call", "provider", "call_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(20))
    call_id: Mapped[str] = mapped_column(String(200))
    dedupe_key: Mapped[str] = mapped_column(String(400))
    kind: Mapped[str] = mapped_column(String(40))
    final: Mapped[bool] = mapped_column(default=False)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class CloudCall(Base):
    """Where each cloud PBX call stands: open, final (end event in), recorded, or timed_out."""

    __tablename__ = "cloud_calls"
    __table_args__ = (
        Index("ix_cloud_calls_state_last_event", "state", "last_event_at"),
        Index("ix_cloud_calls_pending", "pending"),
    )
    provider: Mapped[str] = mapped_column(String(20), primary_key=True)
    call_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[str] = mapped_column(String(10), default="open")
    # The record must be (re)built from the inbox: set with every new event of a call that has ended.
    pending: Mapped[bool] = mapped_column(default=False)
    # Bumped by every new event, so a build that read an older revision leaves the call pending.
    revision: Mapped[int] = mapped_column(Integer, default=1)
    first_event_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_event_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # None: it never expires (`kolokol token create --expires-in`). Migration 0006.
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class User(Base):
    """A person who logs in to the console pages."""

    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    # Stored lower-cased, so "Anna" and "anna" are one account.
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    # The phones this user answers, e.g. ["101", "102"]: what an operator's feed is scoped to.
    extensions: Mapped[list[str]] = mapped_column(JSON, default=list)
    password_hash: Mapped[str] = mapped_column(String(200))
    language: Mapped[str | None] = mapped_column(String(2))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    password_changed_at: Mapped[datetime] = mapped_column(UtcDateTime())


class WebSession(Base):
    """A login. The id is the SHA-256 of the cookie's secret, so a copy of the table logs nobody in."""

    __tablename__ = "web_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # The absolute end; the idle end is last_seen_at + the configured idle time.
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(200))
    user: Mapped[User] = relationship(lazy="joined", innerjoin=True)


# --- Call tracking (calltracking/, migration 0008) -------------------------------------------------


class TrackingNumber(Base):
    """A static tracking number: every call to it comes from one source (a billboard, a leaflet…)."""

    __tablename__ = "tracking_numbers"
    number: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    branch: Mapped[str | None] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(20), default="offline")
    source: Mapped[str | None] = mapped_column(String(200))
    medium: Mapped[str | None] = mapped_column(String(200))
    campaign: Mapped[str | None] = mapped_column(String(500))
    content: Mapped[str | None] = mapped_column(String(500))
    term: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class TrackingSite(Base):
    """A website that asks for numbers: who may ask (origins) and how long a lease lives."""

    __tablename__ = "tracking_sites"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    origins: Mapped[list[str]] = mapped_column(JSON, default=list)
    hold_seconds: Mapped[int] = mapped_column(Integer)
    heartbeat_seconds: Mapped[int] = mapped_column(Integer)
    # A lease ends this long after it began however often the page heartbeats (a tab left open for a week
    # must not keep a pool number).
    max_lease_seconds: Mapped[int] = mapped_column(Integer)
    # Numbers shown by source alone, without a session (visitors without consent): [{"number",
    # "replaces": [...], "match": {"channel", "source", "medium", "campaign"}}].
    source_numbers: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class TrackingPool(Base):
    """A site's pool of numbers standing in for clinic numbers (per branch or channel)."""

    __tablename__ = "tracking_pools"
    __table_args__ = (UniqueConstraint("site_id", "name", name="uq_tracking_pools_site_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("tracking_sites.id"))
    name: Mapped[str] = mapped_column(String(100))
    branch: Mapped[str | None] = mapped_column(String(100))
    replaces: Mapped[list[str]] = mapped_column(JSON, default=list)
    fallback: Mapped[str | None] = mapped_column(String(40))
    # Leases only for visitors of this channel ("paid", …); null: every visitor.
    channel: Mapped[str | None] = mapped_column(String(20))
    # A pool left out of its site's latest settings: kept (its leases explain calls), never leased again.
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class PoolNumber(Base):
    """A pool number and who holds it now. The row is what a lease locks (FOR UPDATE SKIP LOCKED)."""

    __tablename__ = "pool_numbers"
    __table_args__ = (Index("ix_pool_numbers_pool_leased_until", "pool_id", "leased_until"),)
    number: Mapped[str] = mapped_column(String(40), primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("tracking_pools.id"))
    # "active", "quarantined" (out of rotation, e.g. spam callers found it) or "retired" (removed).
    state: Mapped[str] = mapped_column(String(12), default="active")
    state_reason: Mapped[str | None] = mapped_column(String(200))
    state_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    session_id: Mapped[str | None] = mapped_column(String(32))
    lease_id: Mapped[int | None] = mapped_column(Integer)
    # The current lease's end; a number is free when this is null or past.
    leased_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # When its last lease ended or began: the number free the longest goes out first.
    last_leased_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class VisitorSession(Base):
    """A website visitor, with the source taken once when the session opened."""

    __tablename__ = "visitor_sessions"
    __table_args__ = (Index("ix_visitor_sessions_site_created", "site_id", "created_at"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    consent: Mapped[bool] = mapped_column(default=True)
    channel: Mapped[str] = mapped_column(String(20))
    source: Mapped[str | None] = mapped_column(String(200))
    medium: Mapped[str | None] = mapped_column(String(200))
    campaign: Mapped[str | None] = mapped_column(String(500))
    content: Mapped[str | None] = mapped_column(String(500))
    term: Mapped[str | None] = mapped_column(String(500))
    landing_page: Mapped[str | None] = mapped_column(String(1000))
    referrer: Mapped[str | None] = mapped_column(String(1000))
    gclid: Mapped[str | None] = mapped_column(String(200))
    yclid: Mapped[str | None] = mapped_column(String(200))
    fbclid: Mapped[str | None] = mapped_column(String(200))
    ga_client_id: Mapped[str | None] = mapped_column(String(100))
    ym_client_id: Mapped[str | None] = mapped_column(String(100))
    # The visitor's address, to rate-limit and to tell bots (never shown to marketers).
    address: Mapped[str | None] = mapped_column(String(64))


class Lease(Base):
    """Lease history: which session held which number, when. Calls are attributed from it."""

    __tablename__ = "leases"
    __table_args__ = (
        Index("ix_leases_number_started", "number", "started_at"),
        Index("ix_leases_pool_started", "pool_id", "started_at"),
        Index("ix_leases_session", "session_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pool_id: Mapped[int] = mapped_column(Integer)
    # The pool number, or the pool's fallback when every number was taken (overflow).
    number: Mapped[str] = mapped_column(String(40))
    session_id: Mapped[str] = mapped_column(String(32))
    overflow: Mapped[bool] = mapped_column(default=False)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # The first heartbeat: a page that never heartbeats (a bot) holds its number only briefly.
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_heartbeat_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime())


class TrackingCost(Base):
    """What a source cost in a month (entered or imported), for cost per call."""

    __tablename__ = "tracking_costs"
    __table_args__ = (
        UniqueConstraint("month", "channel", "source", "medium", "campaign", name="uq_tracking_costs_key"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    month: Mapped[str] = mapped_column(String(7))  # "2026-11"
    # "" where a cost is not split that finely (unique constraints treat NULLs as distinct).
    channel: Mapped[str] = mapped_column(String(20), default="")
    source: Mapped[str] = mapped_column(String(200), default="")
    medium: Mapped[str] = mapped_column(String(200), default="")
    campaign: Mapped[str] = mapped_column(String(500), default="")
    amount: Mapped[Any] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3), default="RUB")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ReportBuilt(Base):
    """A local day (of a zone, for a target-call threshold) whose report figures are rolled up
    (calltracking.report_days; migration 0009, whose triggers forget a day when its calls change)."""

    __tablename__ = "tracking_report_built"
    __table_args__ = (
        UniqueConstraint("zone", "target_seconds", "day", name="uq_tracking_report_built_day"),
        Index("ix_tracking_report_built_ends", "ends_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    zone: Mapped[str] = mapped_column(String(64))
    target_seconds: Mapped[int] = mapped_column(Integer)
    day: Mapped[str] = mapped_column(String(10))
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime())
    built_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ReportDay(Base):
    """One group's figures on a rolled-up day."""

    __tablename__ = "tracking_report_days"
    __table_args__ = (Index("ix_tracking_report_days_built_grouping", "built_id", "grouping"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    built_id: Mapped[int] = mapped_column(ForeignKey("tracking_report_built.id", ondelete="CASCADE"))
    grouping: Mapped[str] = mapped_column(String(20))
    key: Mapped[str | None] = mapped_column(String(1000))
    calls: Mapped[int] = mapped_column(Integer)
    first_time_callers: Mapped[int] = mapped_column(Integer)
    answered: Mapped[int] = mapped_column(Integer)
    missed: Mapped[int] = mapped_column(Integer)
    target_calls: Mapped[int] = mapped_column(Integer)
    # The group's callers that day: sorted 64-bit digests of their numbers, packed.
    callers: Mapped[bytes] = mapped_column(LargeBinary)
    # Missed calls reached afterwards: packed pairs (rounded delay in tenths of a minute, calls).
    reached: Mapped[bytes] = mapped_column(LargeBinary)


# --- Recordings (recordings/, migration 0010) ------------------------------------------------------


class Recording(Base):
    """A call's recording: what to acquire, where the worker stands with it, and the result."""

    __tablename__ = "recordings"
    __table_args__ = (
        Index("ix_recordings_status_next_attempt", "status", "next_attempt_at"),
        Index("ix_recordings_call_started_at", "call_started_at"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"), unique=True)
    # "asterisk" or the cloud provider (its webhook adapter's name).
    origin: Mapped[str] = mapped_column(String(20))
    # What to acquire: asterisk {"file": name as the PBX gave it}; cloud: the call's recording_ref.
    ref: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The contract's status (pending | ready | failed | purged); stage is what the worker does next
    # (acquire | process | done).
    status: Mapped[str] = mapped_column(String(10), default="pending")
    stage: Mapped[str] = mapped_column(String(10), default="acquire")
    failure: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    # A worker's claim; a crashed node's claim runs out and another worker takes the row.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Asterisk: the file's {"size", "mtime", "since"} while waiting for it to stop growing.
    observed: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    original_key: Mapped[str | None] = mapped_column(String(300))
    audio_key: Mapped[str | None] = mapped_column(String(300))
    mime: Mapped[str | None] = mapped_column(String(60))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    channels: Mapped[int | None] = mapped_column(Integer)
    peaks: Mapped[Any] = mapped_column(JSON, nullable=True)
    figures: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Copied from the call: retention is per branch and by the call's age.
    branch: Mapped[str | None] = mapped_column(String(100))
    call_started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ready_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    purged_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Only so the unit of work inserts a new call before its recording; never loaded.
    call: Mapped[Call] = relationship(lazy="raise")


class RecordingAccess(Base):
    """One playback, download or link of a recording: who, when, from where (the audit admins see)."""

    __tablename__ = "recording_access"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recording_id: Mapped[str] = mapped_column(ForeignKey("recordings.id"), index=True)
    call_id: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    # A username, an API token's name, or "link".
    who: Mapped[str] = mapped_column(String(100))
    role: Mapped[str | None] = mapped_column(String(20))
    via: Mapped[str] = mapped_column(String(10))  # session | token | link
    action: Mapped[str] = mapped_column(String(10))  # play | download | link
    address: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(200))
    range: Mapped[str | None] = mapped_column(String(64))


class AppSecret(Base):
    """A secret generated once and shared by every node (e.g. the signed-link key when none is set)."""

    __tablename__ = "app_secrets"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
