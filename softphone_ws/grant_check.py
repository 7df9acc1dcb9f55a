"""Whether the logins behind open feed connections still stand: the port the feed server asks.

A feed token is checked once, when it connects; what it was minted from (a login, an API token) can end
later, in another process (``kolokol user disable`` runs as its own command) or on another node. So the
server asks the issuer, on connect and every few seconds, which of its connections' grants no longer
stand, and closes those. The answer comes from the shared database, so it holds across nodes.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Literal, Protocol

from softphone_ws.close_codes import FeedClose
from softphone_ws.feed_tokens import FeedGrant

# "ended": the login or API token is gone (logout, disabled, password changed, expired, revoked): the
# client should stop. "changed": still logged in, but the role or phones differ from the grant's: a new
# token carries the new grant.
Revocation = Literal["ended", "changed"]

CLOSE_CODES: Mapping[Revocation, FeedClose] = {
    "ended": FeedClose.LOGIN_ENDED,
    "changed": FeedClose.GRANT_CHANGED,
}


class GrantCheck(Protocol):
    async def __call__(self, grants: Collection[FeedGrant]) -> Mapping[FeedGrant, Revocation]:
        """The grants among `grants` that no longer stand, with why; those not returned still stand."""
        ...
