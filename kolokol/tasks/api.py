"""Callback tasks: GET /api/tasks, GET /api/tasks/{id}, POST /api/tasks/{id}/assign, /complete."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kolokol.app_keys import SESSIONS
from kolokol.auth.api_guard import PRINCIPAL, requires
from kolokol.auth.roles import WORK_TASKS
from kolokol.http import query
from kolokol.http.errors import ApiError, json_body
from kolokol.storage.tables import CallbackTask
from kolokol.tasks.views import task_json, task_views

routes = web.RouteTableDef()
# What an operator may record when closing a task by hand.
RESOLUTIONS = ("done", "unreachable", "cancelled")


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
        items = await task_views(session, [task_json(t) for t in rows])
    return web.json_response({"items": items, "total": total, "limit": limit, "offset": offset})


async def _view(session: AsyncSession, task: CallbackTask) -> web.Response:
    [view] = await task_views(session, [task_json(task)])
    return web.json_response(view)


async def _load(session: AsyncSession, task_id: str, *, for_update: bool = False) -> CallbackTask:
    task = (
        await session.get(CallbackTask, task_id, with_for_update=for_update) if len(task_id) <= 32 else None
    )
    if task is None:
        raise ApiError(404, "no-such-task", "no callback task with this id", {"id": task_id[:64]})
    return task


@routes.get("/api/tasks/{task_id}")
@requires(WORK_TASKS)
async def get_task(request: web.Request) -> web.Response:
    async with request.app[SESSIONS]() as session:
        task = await _load(session, request.match_info["task_id"])
        return await _view(session, task)


@routes.post("/api/tasks/{task_id}/assign")
@requires(WORK_TASKS)
async def assign_task(request: web.Request) -> web.Response:
    body = await json_body(request)
    assignee = body.get("assignee", request[PRINCIPAL].name)
    if not isinstance(assignee, str) or not assignee.strip() or len(assignee) > 100:
        raise ApiError(400, "invalid-field", "assignee must be a non-empty string", {"field": "assignee"})
    async with request.app[SESSIONS].begin() as session:
        task = await _load(session, request.match_info["task_id"], for_update=True)
        if task.status != "open":
            raise ApiError(409, "task-closed", "the task is already closed", {"status": task.status})
        task.assignee = assignee.strip()
        task.updated_at = datetime.now(UTC)
        return await _view(session, task)


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
    note = body.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > 2000):
        raise ApiError(400, "invalid-field", "note must be text up to 2000 characters", {"field": "note"})
    async with request.app[SESSIONS].begin() as session:
        task = await _load(session, request.match_info["task_id"], for_update=True)
        if task.status != "open":
            raise ApiError(409, "task-closed", "the task is already closed", {"status": task.status})
        now = datetime.now(UTC)
        task.status = "cancelled" if resolution == "cancelled" else "done"
        task.resolution = resolution
        task.note = note
        task.closed_at = now
        task.updated_at = now
        return await _view(session, task)
