"""Accounts: login, users, memberships, API tokens and the audit log, on top of core.auth."""
