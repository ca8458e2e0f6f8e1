"""Accounts, sessions, per-user API tokens, login lockout and the audit trail (issue 4).

- ``schema``: the tables (``users``, ``sessions``, ``api_tokens``, ``login_failures``, ``audit_log``);
- ``passwords``: argon2id hashing and the password policy;
- ``store``: users (create, list, update) and the ``Principal`` a user row stands for;
- ``sessions``: server-side sessions behind an HttpOnly cookie, with a CSRF token each;
- ``tokens``: per-user API tokens for scripts (only a SHA-256 is stored);
- ``lockout``: refuse logins for a username after repeated failures;
- ``audit``: the append-only audit trail and the middleware that writes it;
- ``api``: the HTTP endpoints under ``/api/v1/auth`` and ``/api/v1/users``.

``web.auth.authenticate`` ties them together; scopes are enforced in ``web.scope``.
"""
