"""The page shows the identity field of the server's auth mode, and sends it."""

from tests.browser.browser import Page, unique_tag
from tests.integration.tokens import claims, hs256


def test_gateway_mode_asks_for_a_user_id_marked_as_the_gateways_job(page: Page) -> None:
    page.open(user=None)
    assert page.el("user-id").is_displayed()
    assert not page.el("token").is_displayed()
    hint = page.el(page.el("user-id").get_attribute("aria-describedby") or "")
    assert "In production the API gateway sets this header" in hint.text

    page.fill("user-id", "bob")
    page.show(unique_tag())  # leaving the field stores it; the next requests carry it
    page.post("from bob")
    page.wait_first_message("from bob")
    assert page.all("#messages .user")[0].text == "bob"


def test_jwt_mode_asks_for_a_bearer_token_and_sends_it(jwt_page: Page) -> None:
    page = jwt_page
    page.open(user=None)
    assert page.el("token").is_displayed()
    assert page.el("token").get_attribute("type") == "password"
    assert not page.el("user-id").is_displayed()

    page.show(unique_tag())
    page.wait_state("timeline-status", "error")
    assert "Enter a bearer token" in page.el("timeline-status").text

    page.fill("token", hs256(claims(sub="carol", iss=None, aud=None)))
    page.show(unique_tag())
    page.post("signed by carol")
    page.wait_first_message("signed by carol")
    assert page.all("#messages .user")[0].text == "carol"
