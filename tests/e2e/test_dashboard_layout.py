"""What a person sees around the list: a phone-sized page, the icon, their own status, deactivated accounts,
and the Django admin's user list at a laptop's width."""

import pytest
from playwright.sync_api import expect

from conftest import PASSWORD
from tests.e2e.conftest import ONE_REFRESH

pytestmark = pytest.mark.live
PHONE = (390, 844)


def overflows(page) -> int:
    """How many pixels the page is wider than its viewport (0: nothing to scroll sideways)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def test_on_a_phone_nothing_overflows_and_login_list_filter_and_logout_work(people, open_dashboard):
    phone = open_dashboard("phone", viewport=PHONE)
    assert overflows(phone.page) <= 0
    phone.log_in("admin", PASSWORD)
    phone.shows("admin", "online", within=ONE_REFRESH)
    assert overflows(phone.page) <= 0, "the table scrolls inside its card, the page does not"

    phone.page.check('input[name="filter"][value="online"]')
    expect(phone.row("bob")).to_have_count(0)
    phone.page.check('input[name="filter"][value="all"]')
    expect(phone.row("bob")).to_have_count(1)
    logo = phone.page.locator(".logo").bounding_box()
    assert abs(logo["width"] - logo["height"]) < 1, "the logo dot keeps its shape"

    phone.page.click("#logout")
    phone.page.locator("#login-form").wait_for()
    assert overflows(phone.page) <= 0


def test_no_page_load_asks_for_something_missing(people, open_dashboard, live_api):
    page = open_dashboard("staff")
    page.log_in("admin", PASSWORD)
    page.shows("admin", "online", within=ONE_REFRESH)
    page.page.goto(live_api.base_url + "/admin/login/")
    page.page.wait_for_load_state("networkidle")
    assert page.not_found == [], page.not_found


def test_the_header_shows_your_own_status(people, open_dashboard):
    page = open_dashboard("alice")
    page.log_in("alice", PASSWORD)
    expect(page.page.locator("#own-status")).to_have_attribute("data-status", "online", timeout=ONE_REFRESH * 1000)
    page.page.check("#appear-offline")
    expect(page.page.locator("#own-status")).to_have_attribute("data-status", "invisible")
    expect(page.page.locator("#own-status-text")).to_have_text("invisible")


def test_deactivated_accounts_are_marked_for_staff(people, open_dashboard, django_user_model):
    django_user_model.objects.filter(username="carol").update(is_active=False)
    page = open_dashboard("staff")
    page.log_in("admin", PASSWORD)
    expect(page.row("carol")).to_have_attribute("data-deactivated", "true", timeout=ONE_REFRESH * 1000)
    expect(page.row("carol").locator(".deactivated-mark")).to_have_text("deactivated")
    expect(page.row("bob")).not_to_have_attribute("data-deactivated", "true")


def test_the_django_admins_user_list_fits_1280_pixels(people, browser, live_api, django_user_model):
    django_user_model.objects.filter(username="admin").update(is_superuser=True)
    # Real directories hold long names and addresses: the list must fit with them.
    django_user_model.objects.filter(username="carol").update(
        first_name="Anastasia-Konstantina",
        last_name="Papadopoulou-Vasilakopoulou",
        email="anastasia.papadopoulou-vasilakopoulou@engineering.offchat-example.com",
    )
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.goto(live_api.base_url + "/admin/login/?next=/admin/users/user/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.locator("#result_list").wait_for()
        assert overflows(page) <= 0
        table = page.locator("#result_list").bounding_box()
        assert table["x"] + table["width"] <= 1280
    finally:
        context.close()
