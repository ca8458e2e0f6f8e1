"""Server-rendered pages (Jinja2 + htmx): the browser face of the platform (issue 4).

- ``i18n``: the locale of a request (``lang`` cookie, else Accept-Language, else zh_CN) and the Babel
  catalogs under ``web/i18n``;
- ``render``: one Jinja2 environment per locale (autoescape, i18n extension), the page helpers;
- ``session``: who is looking (the session cookie only: pages are for people), their scope (the same
  ``web.scope.resolve_scope`` the API uses) and the CSRF check of page forms;
- ``routes``: the pages themselves and the navigation table.

See docs/web.md.
"""
