"""The dashboard reports idle after PRESENCE_IDLE_SECONDS without input, and active again at the first input."""

import json

import pytest
from playwright.sync_api import expect

from conftest import PASSWORD
from tests.e2e.conftest import HEARTBEAT_SECONDS, ONE_REFRESH, SLACK_SECONDS

IDLE_SECONDS = 4  # shorter than the e2e timeout (6 s), so away shows before anyone could time out


@pytest.fixture
def idle_quickly(e2e_presence_intervals):
    """The server tells pages (at login) to go idle after IDLE_SECONDS; asked for before the server starts."""
    e2e_presence_intervals["PRESENCE_IDLE_SECONDS"] = str(IDLE_SECONDS)


def heartbeat_states(page_requests: list) -> list[str]:
    return [
        json.loads(r.post_data or "{}").get("state") for r in page_requests if r.url.endswith("/api/users/heartbeat/")
    ]


def test_a_page_left_alone_reports_idle_its_user_reads_away_and_input_brings_them_back_at_once(
    idle_quickly, staff, open_dashboard
):
    regular = open_dashboard("regular")
    sent = []
    regular.page.on("request", lambda request: request.method == "POST" and sent.append(request))
    body = regular.log_in("alice", PASSWORD)
    assert body["presence"]["idle_seconds"] == IDLE_SECONDS
    staff.shows("alice", "online", within=ONE_REFRESH)
    assert set(heartbeat_states(sent)) == {"active"}

    # No input on alice's page: the first idle heartbeat goes out about a second after IDLE_SECONDS.
    staff.shows("alice", "away", within=IDLE_SECONDS + 1 + ONE_REFRESH + SLACK_SECONDS)
    assert heartbeat_states(sent)[-1] == "idle"
    assert regular.page.locator("body").get_attribute("data-activity") == "idle"
    own_status = regular.page.locator("#own-status")
    expect(own_status).to_have_attribute("data-status", "away", timeout=ONE_REFRESH * 1000)  # her own header too
    # Still there, only idle: later heartbeats keep her away, not offline.
    regular.wait(2 * HEARTBEAT_SECONDS)
    staff.shows("alice", "away", within=ONE_REFRESH)
    staff.screenshot("alice-away")

    # Input: an active heartbeat at once (sent within half a second), not at the next tick of the heartbeat timer.
    def active_heartbeat(request):
        return (
            request.url.endswith("/api/users/heartbeat/")
            and json.loads(request.post_data or "{}").get("state") == "active"
        )

    with regular.page.expect_request(active_heartbeat, timeout=500):
        regular.page.mouse.move(40, 40)
    staff.shows("alice", "online", within=ONE_REFRESH)
    assert regular.page.locator("body").get_attribute("data-activity") == "active"
    expect(own_status).to_have_attribute("data-status", "online", timeout=ONE_REFRESH * 1000)
