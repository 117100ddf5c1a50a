"""GET /: the dashboard page, its static ES modules, and WhiteNoise serving them as production does."""

import re

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.test import Client
from whitenoise.compress import Compressor

pytestmark = pytest.mark.django_db
MODULES = (
    "dashboard/dashboard.js",
    "dashboard/api.js",
    "dashboard/format.js",
    "dashboard/presence_store.js",
    "dashboard/activity.js",
    "dashboard/users_table.js",
    "dashboard/dashboard.css",
    "dashboard/presence_socket.js",
    "dashboard/favicon.svg",
)


def test_the_dashboard_page_names_every_api_route_it_calls(client):
    response = client.get("/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    for attribute, path in {
        "data-login-url": "/api/users/login/",
        "data-logout-url": "/api/users/logout/",
        "data-refresh-url": "/api/users/token/refresh/",
        "data-heartbeat-url": "/api/users/heartbeat/",
        "data-presence-url": "/api/users/presence/",
    }.items():
        assert f'{attribute}="{path}"' in html
    assert '<script type="module" src="/static/dashboard/dashboard.js">' in html
    assert 'id="login-form"' in html and 'id="connection-lost"' in html


def test_the_page_loads_nothing_from_another_origin(client):
    html = client.get("/").content.decode()

    assert not re.search(r'(src|href)="(https?:)?//', html)


@pytest.mark.parametrize("module", MODULES)
def test_every_module_ships_as_a_static_file(module):
    assert finders.find(module), module


@pytest.fixture
def production_static(settings, tmp_path, monkeypatch):
    """Production's static setup: collectstatic into a fresh folder, hashed names, WhiteNoise in front."""
    # Compressing is WhiteNoise's own business, and brotli at full strength on Swagger UI's
    # bundles takes a minute; the hashed names and the serving are what this suite checks.
    monkeypatch.setattr(Compressor, "should_compress", lambda self, name: False)
    settings.DEBUG = False
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    middleware = list(settings.MIDDLEWARE)
    middleware.insert(
        middleware.index("django.middleware.security.SecurityMiddleware") + 1,
        "whitenoise.middleware.WhiteNoiseMiddleware",
    )
    settings.MIDDLEWARE = middleware
    call_command("collectstatic", "--noinput", verbosity=0)
    return Client()  # a new client loads the middleware, and WhiteNoise scans STATIC_ROOT, now


def test_whitenoise_serves_the_dashboard_and_swagger_ui_assets_under_hashed_names(production_static):
    html = production_static.get("/").content.decode()
    script = re.search(r'<script type="module" src="(/static/dashboard/dashboard\.[0-9a-f]{12}\.js)">', html)
    assert script, html

    response = production_static.get(script.group(1))
    assert response.status_code == 200
    assert "javascript" in response["Content-Type"]
    assert "immutable" in response["Cache-Control"]  # hashed names may be cached for ever
    assert b"createClient" in b"".join(response.streaming_content)
    # The module's relative imports name the files without a hash; they are served too.
    for module in (f"/static/{name}" for name in MODULES if name.endswith(".js") and name != "dashboard/dashboard.js"):
        assert production_static.get(module).status_code == 200, module

    docs = production_static.get("/api/docs/").content.decode()
    bundle = re.search(
        r'src="(/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle\.[0-9a-f]{12}\.js)"', docs
    )
    assert bundle, docs
    assert production_static.get(bundle.group(1)).status_code == 200


def test_favicon_ico_leads_to_the_dashboards_icon(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 301
    assert response["Location"].endswith("dashboard/favicon.svg")
    assert finders.find("dashboard/favicon.svg")
