"""Top-level routes: the dashboard, the users API and its schema, the Django admin, /healthz, and JSON 404s under /api/."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from dashboard.views import DashboardView, favicon
from offchat_backend.health import healthz, livez, readyz
from offchat_backend.metrics import metrics
from users.api_errors import not_found

urlpatterns = [
    # Browsers ask for /favicon.ico on pages that name no icon (the admin, the API docs).
    path("favicon.ico", favicon),
    path("livez", livez, name="livez"),
    path("readyz", readyz, name="readyz"),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/users/", include("users.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("", DashboardView.as_view(), name="dashboard"),
    # Unknown API paths answer JSON even with DEBUG on, where handler404 is not used.
    re_path(r"^api/", not_found),
]

handler400 = "users.api_errors.bad_request"
handler403 = "users.api_errors.permission_denied"
handler404 = "users.api_errors.not_found"
handler500 = "users.api_errors.server_error"
