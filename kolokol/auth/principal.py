"""Who is making a request: a user logged in to the pages, or an API token. One shape for both."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kolokol.auth.roles import SUPERVISOR_ROLES


@dataclass(frozen=True, slots=True)
class Principal:
    # Username for users, token name for API tokens: what is recorded as a task's assignee.
    name: str
    display_name: str
    role: str
    # The phones this user answers (operators); empty for API tokens.
    extensions: tuple[str, ...]
    via: Literal["session", "token"]
    user_id: str | None = None
    # The credential this request came with: the login session's id or the API token's id. A feed
    # token names it, so that the feed closes when it ends.
    session_id: str | None = None
    token_id: str | None = None

    @property
    def supervises(self) -> bool:
        return self.role in SUPERVISOR_ROLES
