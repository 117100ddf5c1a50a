"""compose's web command (daphne, production settings) serves the API and the presence socket on one port."""

import sys
from pathlib import Path

import pytest
import yaml

from tests.live.conftest import ROOT, Api
from tests.sockets.conftest import Socket, free_port, log_in, wait_until_healthy

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def compose_web_command(port: int) -> list[str]:
    """compose's web command on 127.0.0.1:`port`, with its own endpoint options (the backlog) kept."""
    command = list(yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"]["command"])
    command[0] = str(Path(sys.executable).parent / command[0])
    endpoint = command.index("-e") + 1
    command[endpoint] = command[endpoint].replace("port=8000", f"port={port}").replace("0.0.0.0", "127.0.0.1")
    return command


def test_compose_web_listens_with_a_backlog_that_fits_a_reconnect_storm():
    endpoint = compose_web_command(8000)[compose_web_command(8000).index("-e") + 1]
    options = dict(part.split("=") for part in endpoint.split(":")[1:])
    assert int(options["backlog"]) >= 1024


def test_compose_web_serves_the_api_and_the_socket_under_production_settings(socket_env, start_process, user):
    socket_env.update(
        DJANGO_SETTINGS_MODULE="offchat_backend.settings.production",
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",
    )
    port = free_port()
    server = start_process("web", compose_web_command(port))
    api = Api(f"http://127.0.0.1:{port}")
    wait_until_healthy(api, server)

    socket = Socket(f"ws://127.0.0.1:{port}/ws/presence/", origin="http://127.0.0.1")
    try:
        first = socket.auth(log_in(api, user)["access"])
    finally:
        socket.close()
    assert first["type"] == "presence" and user.id in {u["id"] for u in first["users"]}
