"""What a feed token was minted from, and whether that still stands: the feed's `GrantCheck`.

A feed token names its credential: the login session (by a tag derived from its id, never the id
itself: the token travels in a URL) and its user, or the API token. The feed server asks on connect and
every few seconds; the answer is read from the database, so a logout on another node or
``kolokol user disable`` in another process closes the feed within one check:

- the session ended (logout, expiry, password change, the user disabled or deleted), or the API token
  was revoked or expired: "ended" (close 4440; the console asks to log in again);
- still logged in, but the user's role or phones are no longer the grant's: "changed" (close 4409; a new
  token carries the new grant).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kolokol.auth.principal import Principal
from kolokol.auth.sessions import SessionPolicy, session_expired
from kolokol.auth.tokens import token_state
from kolokol.storage.tables import ApiToken, User, WebSession
from softphone_ws.feed_tokens import FeedGrant
from softphone_ws.grant_check import Revocation

_LOGIN_KIND = "login"
_API_TOKEN_KIND = "token"  # noqa: S105 (a label, not a secret)
# IN lists stay well below every backend's parameter limits.
_CHUNK = 500
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class _Login:
    user_id: str
    session_tag: str


@dataclass(frozen=True, slots=True)
class _Token:
    token_id: str


def session_tag(session_id: str) -> str:
    """What a feed token says of its login session: enough to recognise it, useless to anyone else."""
    return hashlib.sha256(f"feed:{session_id}".encode()).hexdigest()[:32]


def credential_of(principal: Principal) -> str | None:
    """The credential a feed token minted for this caller names; None when there is nothing to name."""
    if principal.via == "session" and principal.user_id and principal.session_id:
        return f"{_LOGIN_KIND}:{principal.user_id}:{session_tag(principal.session_id)}"
    if principal.via == "token" and principal.token_id:
        return f"{_API_TOKEN_KIND}:{principal.token_id}"
    return None


def _parse(credential: str | None) -> _Login | _Token | None:
    kind, _, rest = (credential or "").partition(":")
    if kind == _LOGIN_KIND:
        user_id, _, tag = rest.partition(":")
        return _Login(user_id, tag) if user_id and tag else None
    if kind == _API_TOKEN_KIND and rest:
        return _Token(rest)
    return None


def _chunks(items: Iterable[_T]) -> Iterator[list[_T]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, _CHUNK)):
        yield chunk


class FeedGrantCheck:
    """Implements softphone_ws.grant_check.GrantCheck against the database."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        clock: Callable[[], datetime],
        policy: SessionPolicy,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._policy = policy

    async def __call__(self, grants: Collection[FeedGrant]) -> dict[FeedGrant, Revocation]:
        parsed = {grant: _parse(grant.credential) for grant in grants}
        user_ids = {p.user_id for p in parsed.values() if isinstance(p, _Login)}
        token_ids = {p.token_id for p in parsed.values() if isinstance(p, _Token)}
        now = self._clock()
        users: dict[str, User] = {}
        live_logins: set[tuple[str, str]] = set()
        tokens: dict[str, ApiToken] = {}
        async with self._sessions() as session:
            for chunk in _chunks(user_ids):
                users.update(
                    (user.id, user)
                    for user in (await session.scalars(select(User).where(User.id.in_(chunk)))).all()
                )
                rows = await session.execute(
                    select(
                        WebSession.id,
                        WebSession.user_id,
                        WebSession.expires_at,
                        WebSession.last_seen_at,
                    ).where(WebSession.user_id.in_(chunk))
                )
                live_logins.update(
                    (row.user_id, session_tag(row.id))
                    for row in rows
                    if not session_expired(row.expires_at, row.last_seen_at, now=now, policy=self._policy)
                )
            for chunk in _chunks(token_ids):
                tokens.update(
                    (token.id, token)
                    for token in (await session.scalars(select(ApiToken).where(ApiToken.id.in_(chunk)))).all()
                )
        revoked: dict[FeedGrant, Revocation] = {}
        for grant, credential in parsed.items():
            if isinstance(credential, _Login):
                why = _login_standing(grant, credential, users.get(credential.user_id), live_logins)
            elif isinstance(credential, _Token):
                why = _token_standing(grant, tokens.get(credential.token_id), now)
            else:
                # Names nothing to check: only kolokol mints feed tokens (with its secret), and its HTTP
                # route always names the credential; tokens from older versions live a minute.
                why = None
            if why is not None:
                revoked[grant] = why
        return revoked


def _login_standing(
    grant: FeedGrant, login: _Login, user: User | None, live_logins: set[tuple[str, str]]
) -> Revocation | None:
    if user is None or not user.active or (login.user_id, login.session_tag) not in live_logins:
        return "ended"
    if user.role != grant.role:
        return "changed"
    # A grant for every call does not depend on the user's phones.
    if not grant.every_call and set(user.extensions) != set(grant.extensions):
        return "changed"
    return None


def _token_standing(grant: FeedGrant, token: ApiToken | None, now: datetime) -> Revocation | None:
    if token is None or token_state(token, now) != "active":
        return "ended"
    return "changed" if token.role != grant.role else None
