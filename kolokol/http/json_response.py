"""Every JSON answer kolokol gives: UTF-8 as it is, not ``\\u`` escapes.

Names, notes and captions are mostly Cyrillic; escaped, each letter costs six bytes instead of two and a
person reading the API (curl, a CRM integrator's log) sees ``\\u0418\\u0432\\u0430\\u043d`` for ``Иван``.
The body is still JSON in UTF-8, as ``application/json`` says, so every client parses it the same.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import partial
from typing import Any

from aiohttp import web

json_text = partial(json.dumps, ensure_ascii=False)


def json_response(body: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers, dumps=json_text)
