"""Callback tasks: GET /api/tasks, GET /api/tasks/{id}; POST /api/tasks/{id}/assign, /complete, /attempt
and /undo.

Every change by hand is a conditional transition: the row is taken with an UPDATE that names the state the
change starts from (still open; unchanged since it was read), so of two operators pressing at once exactly
one succeeds and the other gets 409, on SQLite and on PostgreSQL alike.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from aiohttp import web
from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kolokol.app_keys import CLOCK, LIVE, SESSIONS, SETTINGS
from kolokol.auth.api_guard import PRINCIPAL, requires
from kolokol.auth.roles import SUPERVISOR_ROLES, WORK_TASKS
from kolokol.http import query
from kolokol.http.errors import ApiError, json_body
from kolokol.http.json_response import json_response
from kolokol.storage.tables import CallbackTask
from kolokol.tasks import actions
from kolokol.tasks.actions import RESOLUTIONS
from kolokol.tasks.views import InCallLookup, task_json, task_views

routes = web.RouteTableDef()
_MAX_NOTE = 2000
_MAX_ID = 32
_UNDO_REFUSALS = {
    "nothing-to-undo": (409, "nothing to undo on this task"),
    "undo-expired": (409, "too late to undo: the time for it has passed"),
    "not-yours": (403, "only whoever did it (or a manager) may undo it"),
    "task-changed": (409, "the task has changed since; nothing was undone"),
}


def _in_call(request: web.Request) -> InCallLookup | None:
    live = request.app.get(LIVE)
    return live.in_call if live is not None else None


@routes.get("/api/tasks")
@requires(WORK_TASKS)
async def list_tasks(request: web.Request) -> web.Response:
    stmt = select(CallbackTask)
    status = query.choice(request, "status", ("open", "done", "cancelled"))
    if status:
        stmt = stmt.where(CallbackTask.status == status)
    assignee = query.text(request, "assignee", 100)
    if assignee:
        stmt = stmt.where(CallbackTask.assignee == assignee)
    limit, offset = query.page(request)
    async with request.app[SESSIONS]() as session:
        total = await session.scalar(select(func.count()).select_from(stmt.subquery()))
        rows = (
            await session.scalars(
                stmt.order_by(CallbackTask.due_at, CallbackTask.id).limit(limit).offset(offset)
            )
        ).all()
        items = await task_views(session, [task_json(t) for t in rows], _in_call(request))
    return json_response({"items": items, "total": total, "limit": limit, "offset": offset})


async def _view(request: web.Request, session: AsyncSession, task: CallbackTask) -> web.Response:
    [view] = await task_views(session, [task_json(task)], _in_call(request))
    return json_response(view)


def _no_such_task(task_id: str) -> ApiError:
    return ApiError(404, "no-such-task", "no callback task with this id", {"id": task_id[:64]})


async def _load(session: AsyncSession, task_id: str) -> CallbackTask:
    task = await session.get(CallbackTask, task_id) if len(task_id) <= _MAX_ID else None
    if task is None:
        raise _no_such_task(task_id)
    return task


async def _take(session: AsyncSession, task_id: str, *, version: int | None = None) -> CallbackTask:
    """Take the task for a change: still open (or, with `version`, unchanged since it was read).

    The UPDATE is the transaction's first write and carries the condition, so concurrent changes queue on
    the row (PostgreSQL) or the database (SQLite) and each re-checks it: one wins, the others get 409.
    """
    if len(task_id) > _MAX_ID:
        raise _no_such_task(task_id)
    condition = CallbackTask.status == "open" if version is None else CallbackTask.version == version
    taken = cast(
        CursorResult[Any],
        await session.execute(
            update(CallbackTask)
            .where(CallbackTask.id == task_id, condition)
            .values(version=CallbackTask.version + 1)
            .execution_options(synchronize_session=False)
        ),
    )
    task = await session.get(CallbackTask, task_id, populate_existing=True)
    if task is None:
        raise _no_such_task(task_id)
    if taken.rowcount != 1:
        if version is not None:
            raise ApiError(409, "task-changed", "the task has changed since; nothing was undone")
        raise ApiError(409, "task-closed", "the task is already closed", {"status": task.status})
    return task


def _note(body: dict[str, Any]) -> str | None:
    note = body.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > _MAX_NOTE):
        raise ApiError(
            400, "invalid-field", f"note must be text up to {_MAX_NOTE} characters", {"field": "note"}
        )
    return note


def _apply(task: CallbackTask, changes: dict[str, Any], now: datetime) -> None:
    for name, value in changes.items():
        setattr(task, name, value)
    task.updated_at = now


def _fields(task: CallbackTask) -> dict[str, Any]:
    return {name: getattr(task, name) for name in actions.HAND_FIELDS}


@routes.get("/api/tasks/{task_id}")
@requires(WORK_TASKS)
async def get_task(request: web.Request) -> web.Response:
    async with request.app[SESSIONS]() as session:
        task = await _load(session, request.match_info["task_id"])
        return await _view(request, session, task)


@routes.post("/api/tasks/{task_id}/assign")
@requires(WORK_TASKS)
async def assign_task(request: web.Request) -> web.Response:
    body = await json_body(request)
    assignee = body.get("assignee", request[PRINCIPAL].name)
    if not isinstance(assignee, str) or not assignee.strip() or len(assignee) > 100:
        raise ApiError(400, "invalid-field", "assignee must be a non-empty string", {"field": "assignee"})
    async with request.app[SESSIONS].begin() as session:
        task = await _take(session, request.match_info["task_id"])
        _apply(task, {"assignee": assignee.strip()}, request.app[CLOCK]())
        return await _view(request, session, task)


@routes.post("/api/tasks/{task_id}/complete")
@requires(WORK_TASKS)
async def complete_task(request: web.Request) -> web.Response:
    body = await json_body(request)
    resolution = body.get("resolution", "done")
    if resolution not in RESOLUTIONS:
        raise ApiError(
            400,
            "invalid-field",
            f"resolution must be one of {', '.join(RESOLUTIONS)}",
            {"field": "resolution"},
        )
    note = _note(body)
    by = request[PRINCIPAL].name
    async with request.app[SESSIONS].begin() as session:
        task = await _take(session, request.match_info["task_id"])
        now = request.app[CLOCK]()
        changes = actions.complete(str(resolution), note, by, now)
        _remember_undo(request, task, "complete", changes, by, now)
        _apply(task, changes, now)
        return await _view(request, session, task)


@routes.post("/api/tasks/{task_id}/attempt")
@requires(WORK_TASKS)
async def attempt_task(request: web.Request) -> web.Response:
    """ "Not reached": count the attempt; the task comes back after a while, or the last one closes it."""
    body = await json_body(request)
    note = _note(body)
    by = request[PRINCIPAL].name
    settings = request.app[SETTINGS].tasks
    policy = actions.AttemptPolicy(timedelta(minutes=settings.retry_after_minutes), settings.max_attempts)
    async with request.app[SESSIONS].begin() as session:
        task = await _take(session, request.match_info["task_id"])
        now = request.app[CLOCK]()
        changes = actions.attempt(_fields(task), note, by, now, policy)
        _remember_undo(request, task, "attempt", changes, by, now)
        _apply(task, changes, now)
        return await _view(request, session, task)


def _remember_undo(
    request: web.Request,
    task: CallbackTask,
    action: actions.Action,
    changes: dict[str, Any],
    by: str,
    now: datetime,
) -> None:
    window = timedelta(seconds=request.app[SETTINGS].tasks.undo_seconds)
    task.undo = actions.undo_record(action, _fields(task), changes, by, now, window) if window else None


@routes.post("/api/tasks/{task_id}/undo")
@requires(WORK_TASKS)
async def undo_task(request: web.Request) -> web.Response:
    """Undo the last close or "not reached", by whoever did it, within `tasks.undo_seconds`."""
    await json_body(request)
    principal = request[PRINCIPAL]
    task_id = request.match_info["task_id"]
    try:
        async with request.app[SESSIONS].begin() as session:
            read = await _load(session, task_id)
            now = request.app[CLOCK]()
            restored = actions.undo(
                read.undo,
                _fields(read),
                principal.name,
                now,
                may_undo_others=principal.role in SUPERVISOR_ROLES,
            )
            if isinstance(restored, str):
                status, message = _UNDO_REFUSALS[restored]
                raise ApiError(status, restored, message)
            if restored.get("status") == "open" and read.status != "open":
                await _no_other_open_task(session, read)
            task = await _take(session, task_id, version=read.version)
            _apply(task, restored, now)
            task.undo = None
            await session.flush()
            return await _view(request, session, task)
    except IntegrityError as exc:
        # Reopening a closed task while a newer one is open for the number (one open task per number).
        raise _superseded() from exc


def _superseded() -> ApiError:
    return ApiError(
        409, "task-superseded", "a newer callback task for this number is open; nothing was undone"
    )


async def _no_other_open_task(session: AsyncSession, task: CallbackTask) -> None:
    other = await session.scalar(
        select(CallbackTask.id).where(
            CallbackTask.number == task.number, CallbackTask.status == "open", CallbackTask.id != task.id
        )
    )
    if other is not None:
        raise _superseded()
