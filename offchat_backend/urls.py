"""Top-level routes: the users API, the Django admin, /healthz, and JSON for anything unmatched under /api/."""
from django.contrib import admin
from django.urls import include, path, re_path

from offchat_backend.health import healthz
from users.api_errors import not_found

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/users/", include("users.urls")),
    # Unknown API paths answer JSON even with DEBUG on, where handler404 is not used.
    re_path(r"^api/", not_found),
]

handler400 = "users.api_errors.bad_request"
handler403 = "users.api_errors.permission_denied"
handler404 = "users.api_errors.not_found"
handler500 = "users.api_errors.server_error"
