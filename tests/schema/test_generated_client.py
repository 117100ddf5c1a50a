"""A Python client generated from the served schema by openapi-python-client drives the API against a live server:
login, heartbeat, the feed, invisible, logout, and an admin creating a user. What the schema promises, the
server does, as a generated client (which trusts the schema alone) sees it."""

import importlib
import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import PASSWORD

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]
BIN = Path(sys.executable).parent


@pytest.fixture
def generated(live_api, tmp_path, monkeypatch):
    """The client package generated from GET /api/schema/ of the live server, importable."""
    generator = BIN / "openapi-python-client"
    if not generator.exists():
        pytest.skip("openapi-python-client is not installed (requirements-dev.txt)")
    import urllib.request

    with urllib.request.urlopen(live_api.base_url + "/api/schema/", timeout=15) as response:
        schema = yaml.safe_load(response.read())
    (tmp_path / "schema.json").write_text(__import__("json").dumps(schema))
    done = subprocess.run(
        [str(generator), "generate", "--path", "schema.json", "--meta", "none"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
    )
    package = tmp_path / "offchat_presence_api_client"
    assert package.exists(), done.stdout + done.stderr
    assert "warning" not in (done.stdout + done.stderr).lower(), done.stdout + done.stderr  # nothing it skipped
    monkeypatch.syspath_prepend(str(tmp_path))
    return lambda module: importlib.import_module(f"offchat_presence_api_client.{module}")


def test_a_generated_client_logs_in_beats_follows_the_feed_hides_logs_out_and_creates_a_user(
    generated, live_api, user, staff
):
    client_module, models = generated("client"), generated("models")
    api = lambda name: generated(f"api.users.{name}")  # noqa: E731 - a short lookup

    anonymous = client_module.Client(base_url=live_api.base_url)
    for public in ("users_login_create", "users_token_refresh_create"):  # typed to take a client with no token
        client_type = inspect.signature(api(public).sync).parameters["client"].annotation
        assert client_type == client_module.AuthenticatedClient | client_module.Client, (public, client_type)
    login = api("users_login_create").sync(
        client=anonymous, body=models.LoginRequest(username=user.username, password=PASSWORD)
    )
    assert isinstance(login, models.LoginResponse), login
    assert login.presence.websocket == "/ws/presence/"
    alice = client_module.AuthenticatedClient(base_url=live_api.base_url, token=login.access)

    beat = api("users_heartbeat_create").sync(client=alice, body=models.HeartbeatRequest())
    assert isinstance(beat, models.HeartbeatResponse) and beat.online_status == models.OnlineStatusEnum.ONLINE

    feed = api("users_presence_retrieve").sync(client=alice)
    assert isinstance(feed, models.PresenceFeed) and feed.full is True
    again = api("users_presence_retrieve").sync(client=alice, since=feed.cursor)
    assert isinstance(again, models.PresenceFeed) and again.full is False

    own = api("users_me_presence_partial_update").sync(
        client=alice, body=models.PresenceVisibilityRequest(invisible=True)
    )
    assert isinstance(own, models.OwnPresence) and own.invisible is True

    out = api("users_logout_create").sync(client=alice, body=models.LogoutRequest(refresh=login.refresh))
    assert not isinstance(out, models.Error), out
    refused = api("users_me_retrieve").sync_detailed(client=alice)
    assert refused.status_code == 401

    boss_login = api("users_login_create").sync(
        client=anonymous, body=models.LoginRequest(username=staff.username, password=PASSWORD)
    )
    boss = client_module.AuthenticatedClient(base_url=live_api.base_url, token=boss_login.access)
    created = api("users_admin_users_create").sync(
        client=boss, body=models.AdminUserCreateRequest(username="made-by-a-client", password="Generated-pass-42")
    )
    assert isinstance(created, models.AdminUser) and created.username == "made-by-a-client"
