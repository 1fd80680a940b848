"""Users, memberships, passwords, API tokens and the acting principal."""
