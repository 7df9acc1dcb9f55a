"""Who may do what: the roles and the groups of them that routes and pages check. The one definition."""

from __future__ import annotations

ROLES = ("admin", "manager", "marketer", "operator", "integration")
# People log in with these; "integration" is for machines (the CRM) and exists only as API tokens.
USER_ROLES = ("admin", "manager", "marketer", "operator")

# Act for every phone: every call on the feed, the supervisor view, click-to-call from any extension.
SUPERVISOR_ROLES = frozenset({"admin", "manager"})
# The operator console and its live feed (operators: their own phones and any queue).
CONSOLE_ROLES = SUPERVISOR_ROLES | {"operator"}

READ_CALLS = frozenset(ROLES)
WORK_TASKS = frozenset({"admin", "manager", "operator", "integration"})
WRITE_CONTACTS = WORK_TASKS
EVERYONE = READ_CALLS
# Click-to-call from any extension: supervisors and the CRM; operators only from their own phones.
ORIGINATE_FROM_ANY_PHONE = SUPERVISOR_ROLES | {"integration"}
# Call tracking: numbers, sites and pools, costs (marketers set them up).
MANAGE_TRACKING = frozenset({"admin", "marketer"})
# Call tracking's reports, pool health and ad-platform exports.
READ_TRACKING = frozenset({"admin", "manager", "marketer"})
