"""The locked door: a Content-Security-Policy on every page that the pages
themselves keep (checked in Chromium), spreadsheet-safe CSV cells, evidence
marked only in text, a required SECRET_KEY, throttled logins, admin actions
that check permissions, and long documents capped on the review page."""

import os
import re
import subprocess
import sys

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from pytest_django.asserts import assertContains

from orchestrator.runs.export import safe_cell
from review.highlight import highlight, highlight_excerpt
from review.models import ReviewItem
from tests.conftest import PASSWORD
from tests.test_review import RENEWAL, make_run, renewal_disputed

# Content-Security-Policy


@pytest.mark.django_db
def test_pages_carry_a_csp_whose_nonce_is_on_their_scripts(client_for, analyst):
    response = client_for(analyst).get(reverse("documents:upload"))
    policy = response["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy).group(1)

    assert "script-src 'self' 'nonce-" in policy and "unsafe-eval" not in policy
    assert "object-src 'none'" in policy and "frame-ancestors 'none'" in policy
    scripts = re.findall(r"<script[^>]*>", response.content.decode())
    assert scripts and all(f'nonce="{nonce}"' in tag for tag in scripts)
    # htmx is told not to eval or inject its own <style>.
    assertContains(response, '"includeIndicatorStyles": false, "allowEval": false')


@pytest.mark.django_db
def test_the_login_page_and_errors_carry_the_csp_too(client, analyst, client_for):
    assert "default-src 'self'" in client.get(reverse("login"))["Content-Security-Policy"]
    assert "Content-Security-Policy" in client_for(analyst).get("/documents/999999/")  # a 404


@pytest.mark.django_db
def test_only_the_rq_dashboard_may_run_inline_code(client_for, admin_user):
    client = client_for(admin_user)
    dashboard = client.get(reverse("django_rq:home"))["Content-Security-Policy"]
    admin = client.get(reverse("admin:index"))["Content-Security-Policy"]
    assert "script-src 'self' 'unsafe-inline'" in dashboard
    assert "unsafe-inline" not in admin.split("style-src-attr")[0]


# CSV cells a spreadsheet would run


@pytest.mark.parametrize(
    "value",
    [
        "=1+1", "+SUM(A1)", "-2+3", "@cmd", "\t=1", "\r=1", "\n=HYPERLINK(\"x\")", "  =1+1", " \n @cmd",
        "\uff1dcmd|' /C calc'!A0", "\uff0b1", "\uff0d1", "\uff20SUM(1)", "\u3000=1", "\ufe66cmd",
    ],
)  # fmt: skip
def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(value):
    # Line breaks are folded to a space first (one line per cell), then the quote goes in front.
    assert safe_cell(value) == "'" + re.sub(r"\s*[\r\n]+\s*", " ", value)


@pytest.mark.parametrize("value", ["Invoice 42", "a = b", "", None, 4911, "Total: -3"])
def test_ordinary_csv_cells_are_left_alone(value):
    assert safe_cell(value) == ("" if value is None else str(value))


# Evidence highlighting


def test_a_quote_never_matches_inside_an_entity_or_markup():
    html, found = highlight("Tom & Jerry <b>sign</b>", [("a", "amp"), ("b", "lt;b"), ("c", "&amp;")])
    assert found == set()
    assert "<mark" not in html
    assert html == "Tom &amp; Jerry &lt;b&gt;sign&lt;/b&gt;"


def test_a_quote_with_special_characters_is_found_and_escaped():
    html, found = highlight("Pay <5 days> & then stop.", [("a", "<5 days> &")])
    assert found == {"a"}
    assert html == 'Pay <mark class="a">&lt;5 days&gt; &amp;</mark> then stop.'


def test_a_made_up_quote_is_not_found():
    html, found = highlight("The supplier shall deliver.", [("a", "The supplier shall never deliver.")])
    assert found == set() and "<mark" not in html


def test_a_long_text_is_shown_around_its_evidence():
    text = "x " * 100_000 + RENEWAL + " y" * 100_000
    html, found, shown = highlight_excerpt(text, [("a", RENEWAL)], limit=10_000, context=1_000)
    assert found == {"a"}
    assert shown < 10_000 < len(text)
    assert f'<mark class="a">{RENEWAL}</mark>' in html
    assert "characters …]" in html


@pytest.mark.django_db
def test_the_review_page_caps_a_long_document_around_the_evidence(client_for, reviewer):
    text = "Preamble clause of no consequence. " * 6000 + RENEWAL + " Trailing clause. " * 6000
    item = make_run([renewal_disputed()], text=text).review_items.get()
    response = client_for(reviewer).get(item.get_absolute_url())

    assertContains(response, "around the evidence")
    assertContains(response, f'<mark class="a">{RENEWAL}</mark>', html=False)
    assert len(response.content) < len(text) / 2


# SECRET_KEY


def test_production_without_a_secret_key_refuses_to_start():
    env = {key: value for key, value in os.environ.items() if key not in {"SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env.update(DEBUG="false")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is not set" in result.stderr


def test_development_without_a_secret_key_keeps_one_under_var(tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in {"SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env.update(DEBUG="true", QUORUM_VAR_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "secret_key").exists()


# Logins


@pytest.mark.django_db
def test_repeated_failed_logins_lock_the_account_out_with_a_clear_message(client, analyst, settings):
    login = reverse("login")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = client.post(login, {"username": analyst.username, "password": "wrong"})
        assert response.status_code == 200
        assertContains(response, "didn't match")
    response = client.post(login, {"username": analyst.username, "password": "wrong"})
    assert response.status_code == 429
    # Locked even with the right password now.
    response = client.post(login, {"username": analyst.username, "password": PASSWORD})
    assert response.status_code == 429
    assertContains(response, "Too many failed logins", status_code=429)
    assertContains(response, "locked for 15 minutes", status_code=429)


@pytest.mark.django_db
def test_a_successful_login_is_not_throttled(client, analyst):
    client.post(reverse("login"), {"username": analyst.username, "password": "wrong"})
    response = client.post(reverse("login"), {"username": analyst.username, "password": PASSWORD})
    assert response.status_code == 302


# Admin actions


@pytest.mark.django_db
def test_an_admin_action_is_refused_without_its_permission(client, reviewer, second_reviewer):
    item = make_run([renewal_disputed()]).review_items.get()
    item.claim(reviewer)
    staff = User.objects.create_user("viewer", password=PASSWORD, is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_reviewitem"))
    client.force_login(staff)

    url = reverse("admin:review_reviewitem_changelist")
    response = client.post(url, {"action": "release_claims", "_selected_action": [item.pk]})

    item.refresh_from_db()
    assert item.status == ReviewItem.Status.CLAIMED
    assert response.status_code in (200, 302)
    assert "release_claims" not in client.get(url).content.decode()


@pytest.mark.django_db
def test_an_admin_with_the_permission_can_release_claims(client_for, admin_user, reviewer):
    item = make_run([renewal_disputed()]).review_items.get()
    item.claim(reviewer)
    url = reverse("admin:review_reviewitem_changelist")
    client_for(admin_user).post(url, {"action": "release_claims", "_selected_action": [item.pk]})
    item.refresh_from_db()
    assert item.status == ReviewItem.Status.OPEN


# Every page in Chromium: no CSP violation, htmx still works


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_no_page_violates_the_csp_in_chromium(live_server, page, admin_user, make_document):
    run = make_run([renewal_disputed()])
    item = run.review_items.get()
    document = make_document()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: problems.append(str(error)))

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", admin_user.username)
    page.fill("input[name=password]", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/documents/" in url)
    paths = [
        reverse("documents:list"), reverse("documents:upload"), document.get_absolute_url(),
        reverse("orchestrator:runs"), run.get_absolute_url(), reverse("orchestrator:trace", args=[run.pk]),
        reverse("insights:dashboard"), reverse("insights:spend"), reverse("insights:estimate"),
        reverse("orchestrator:pipelines"), reverse("insights:evaluations"), reverse("review:inbox"),
        item.get_absolute_url(), reverse("review:metrics"), reverse("admin:index"),
        reverse("admin:documents_document_changelist"), reverse("admin:review_reviewitem_changelist"),
    ]  # fmt: skip
    for path in paths:
        page.goto(f"{live_server.url}{path}")
        # Not "networkidle": live pages poll for ever. A second lets deferred scripts and a first poll run.
        page.wait_for_load_state("load")
        page.wait_for_timeout(1000)
    # htmx works under the policy: changing the pipeline refreshes the estimate.
    page.goto(f"{live_server.url}{reverse('documents:upload')}")
    with page.expect_response(lambda response: "/estimate/" in response.url):
        page.select_option("#id_pipeline", index=0)
    violations = [text for text in problems if "Content Security Policy" in text or "EvalError" in text]
    assert violations == []
