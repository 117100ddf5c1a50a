"""Appear offline from the dashboard: others see the user offline, staff see them online and marked invisible."""

from conftest import PASSWORD
from tests.e2e.conftest import ONE_REFRESH, TWO_REFRESHES


def test_appear_offline_hides_the_user_from_regular_pages_and_marks_them_for_staff(staff, open_dashboard):
    alice = open_dashboard("alice")
    alice.log_in("alice", PASSWORD)
    bob = open_dashboard("bob")
    bob.log_in("bob", PASSWORD)
    bob.shows("alice", "online", within=ONE_REFRESH)
    staff.shows("alice", "online", within=ONE_REFRESH)
    box = alice.page.locator("#appear-offline")
    assert not box.is_checked()
    assert staff.row("alice").locator(".invisible-mark").count() == 0

    with alice.page.expect_response(
        lambda r: r.url.endswith("/api/users/me/presence/") and r.request.method == "PATCH"
    ) as patch:
        box.check()
    assert patch.value.status == 200 and patch.value.json()["invisible"] is True
    bob.shows("alice", "offline", within=TWO_REFRESHES)
    staff.wait(TWO_REFRESHES)
    staff.shows("alice", "online", within=ONE_REFRESH)  # staff see the real status...
    assert staff.row("alice").locator(".invisible-mark").inner_text() == "invisible"  # ...marked
    assert bob.row("alice").locator(".invisible-mark").count() == 0
    staff.screenshot("alice-invisible")

    # A reload reads the flag back from the server.
    alice.page.reload()
    alice.page.locator("#dashboard-view").wait_for()
    alice.page.wait_for_function(
        "document.querySelector('#appear-offline').checked === true", timeout=ONE_REFRESH * 1000
    )

    alice.page.locator("#appear-offline").uncheck()
    bob.shows("alice", "online", within=TWO_REFRESHES)
    staff.wait(TWO_REFRESHES)
    assert staff.row("alice").locator(".invisible-mark").count() == 0
