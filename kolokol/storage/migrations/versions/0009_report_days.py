"""call tracking reports: a roll-up of each finished day, kept true by triggers

``tracking_report_built`` says which local days (of a time zone, for a target-call threshold) are rolled
up; ``tracking_report_days`` holds their figures per grouping and group. Triggers forget a rolled-up day
as soon as anything it counted can have changed: a call stored, changed or removed on that day; a call
answered (a miss of the same number within the 30 days before may now count as reached); a callback
task closed or reopened (the days of its misses). Reports roll the day up again from the calls.

New tables and triggers only: nothing stored is rewritten or lost. A later migration that rebuilds
``calls`` or ``callback_tasks`` on SQLite (``batch_alter_table``) drops their triggers and must create
them again (``create_triggers`` below).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# How far back an answered call can make a miss of its number "reached".
REACH_DAYS = 30

# An answered call that can make an earlier miss of its number "reached": it has a number, and that number
# missed a call within the REACH_DAYS before (one index probe; the days to forget are found only then).
_SQLITE_REACH_WHEN = """NEW.status = 'answered' AND NEW.outside_number IS NOT NULL
        AND EXISTS (SELECT 1 FROM calls m WHERE m.outside_number = NEW.outside_number AND m.status = 'missed'
                    AND m.started_at < NEW.started_at
                    AND m.started_at >= datetime(NEW.started_at, '-{days} days'))"""
_SQLITE_REACH_BODY = """DELETE FROM tracking_report_built
         WHERE ends_at > datetime(NEW.started_at, '-{days} days') AND starts_at <= NEW.started_at
           AND EXISTS (SELECT 1 FROM calls m WHERE m.outside_number = NEW.outside_number
                       AND m.status = 'missed' AND m.started_at >= tracking_report_built.starts_at
                       AND m.started_at < tracking_report_built.ends_at);"""
_SQLITE = [
    # A call on a rolled-up day.
    """CREATE TRIGGER tracking_report_call_inserted AFTER INSERT ON calls BEGIN
        DELETE FROM tracking_report_built WHERE starts_at <= NEW.started_at AND NEW.started_at < ends_at;
    END""",
    f"""CREATE TRIGGER tracking_report_call_inserted_reach AFTER INSERT ON calls
        WHEN {_SQLITE_REACH_WHEN} BEGIN
        {_SQLITE_REACH_BODY}
    END""",
    """CREATE TRIGGER tracking_report_call_updated AFTER UPDATE ON calls BEGIN
        DELETE FROM tracking_report_built
         WHERE (starts_at <= OLD.started_at AND OLD.started_at < ends_at)
            OR (starts_at <= NEW.started_at AND NEW.started_at < ends_at);
    END""",
    f"""CREATE TRIGGER tracking_report_call_updated_reach AFTER UPDATE ON calls
        WHEN {_SQLITE_REACH_WHEN} BEGIN
        {_SQLITE_REACH_BODY}
    END""",
    """CREATE TRIGGER tracking_report_call_deleted AFTER DELETE ON calls BEGIN
        DELETE FROM tracking_report_built WHERE starts_at <= OLD.started_at AND OLD.started_at < ends_at;
    END""",
    # A callback task closed, reopened or changed: the days of its misses.
    """CREATE TRIGGER tracking_report_task_changed AFTER UPDATE ON callback_tasks BEGIN
        DELETE FROM tracking_report_built
         WHERE (ends_at > OLD.first_missed_at AND starts_at <= OLD.last_missed_at)
            OR (ends_at > NEW.first_missed_at AND starts_at <= NEW.last_missed_at);
    END""",
]
_SQLITE_TRIGGERS = (
    "call_inserted",
    "call_inserted_reach",
    "call_updated",
    "call_updated_reach",
    "call_deleted",
    "task_changed",
)

_POSTGRES = [
    """CREATE FUNCTION tracking_report_forget_call() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            DELETE FROM tracking_report_built WHERE starts_at <= OLD.started_at AND OLD.started_at < ends_at;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            DELETE FROM tracking_report_built WHERE starts_at <= NEW.started_at AND NEW.started_at < ends_at;
            IF NEW.status = 'answered' AND NEW.outside_number IS NOT NULL AND EXISTS (
                SELECT 1 FROM calls m WHERE m.outside_number = NEW.outside_number AND m.status = 'missed'
                   AND m.started_at < NEW.started_at
                   AND m.started_at >= NEW.started_at - interval '{days} days'
            ) THEN
                DELETE FROM tracking_report_built b
                 WHERE b.ends_at > NEW.started_at - interval '{days} days' AND b.starts_at <= NEW.started_at
                   AND EXISTS (SELECT 1 FROM calls m WHERE m.outside_number = NEW.outside_number
                               AND m.status = 'missed' AND m.started_at >= b.starts_at
                               AND m.started_at < b.ends_at);
            END IF;
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER tracking_report_call_changed AFTER INSERT OR UPDATE OR DELETE ON calls
        FOR EACH ROW EXECUTE FUNCTION tracking_report_forget_call()""",
    """CREATE FUNCTION tracking_report_forget_task() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM tracking_report_built
         WHERE (ends_at > OLD.first_missed_at AND starts_at <= OLD.last_missed_at)
            OR (ends_at > NEW.first_missed_at AND starts_at <= NEW.last_missed_at);
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER tracking_report_task_changed AFTER UPDATE ON callback_tasks
        FOR EACH ROW EXECUTE FUNCTION tracking_report_forget_task()""",
]


def create_triggers() -> None:
    statements = _SQLITE if op.get_bind().dialect.name == "sqlite" else _POSTGRES
    for statement in statements:
        op.execute(statement.format(days=REACH_DAYS))


def upgrade() -> None:
    op.create_table(
        "tracking_report_built",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("zone", sa.String(length=64), nullable=False),
        sa.Column("target_seconds", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_report_built")),
        sa.UniqueConstraint("zone", "target_seconds", "day", name="uq_tracking_report_built_day"),
    )
    # The triggers look for the days a moment falls in (starts_at <= t < ends_at): a call stored now is
    # after every kept day's end, so by ends_at the index finds nothing to scan.
    op.create_index("ix_tracking_report_built_ends", "tracking_report_built", ["ends_at"])
    op.create_table(
        "tracking_report_days",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("built_id", sa.Integer(), nullable=False),
        sa.Column("grouping", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=1000), nullable=True),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("first_time_callers", sa.Integer(), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.Column("missed", sa.Integer(), nullable=False),
        sa.Column("target_calls", sa.Integer(), nullable=False),
        sa.Column("callers", sa.LargeBinary(), nullable=False),
        sa.Column("reached", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_report_days")),
        # A day forgotten by a trigger takes its figures with it.
        sa.ForeignKeyConstraint(
            ["built_id"],
            ["tracking_report_built.id"],
            name=op.f("fk_tracking_report_days_built_id_tracking_report_built"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_tracking_report_days_built_grouping", "tracking_report_days", ["built_id", "grouping"]
    )
    create_triggers()


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS tracking_report_{name}")
    else:
        op.execute("DROP TRIGGER IF EXISTS tracking_report_call_changed ON calls")
        op.execute("DROP TRIGGER IF EXISTS tracking_report_task_changed ON callback_tasks")
        op.execute("DROP FUNCTION IF EXISTS tracking_report_forget_call()")
        op.execute("DROP FUNCTION IF EXISTS tracking_report_forget_task()")
    op.drop_table("tracking_report_days")
    op.drop_table("tracking_report_built")
