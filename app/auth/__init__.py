"""Who may do what: users, roles, permission scopes, passwords and sessions."""
