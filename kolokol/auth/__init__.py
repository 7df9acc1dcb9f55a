"""Who may do what: users and logins, API tokens, roles, the login pages and the guards."""
