"""Registry administration (注册管理) and users (用户管理): lists, forms, import and export, admin only.

The one router ``app.py`` includes; the pages live in ``admin_registry`` (the registry lists and forms,
described in ``admin_sections``), ``admin_devices`` (one data logger: outlet, factors, SM4 keys),
``admin_import`` (import with a dry run, export) and ``admin_users``. Every route refuses any role but
admin with 403 (``admin_common.admin_viewer``) and every write is in the audit trail
(``web.accounts.audit``).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse, Response

from envwatch.web.pages import admin_devices, admin_import, admin_registry, admin_users
from envwatch.web.pages.admin_common import AdminViewer, admin_viewer

router = APIRouter(include_in_schema=False)
# the device page and the import before the registry lists: their paths are the more specific
router.include_router(admin_devices.router)
router.include_router(admin_import.router)
router.include_router(admin_registry.router)
router.include_router(admin_users.router)


@router.get("/admin", dependencies=[Depends(admin_viewer)])
def admin_home(_viewer: AdminViewer) -> Response:
    return RedirectResponse("/admin/registry", status_code=303)
