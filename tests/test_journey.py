"""The walking skeleton end to end, as people use it: in real Chromium against
the live server, with a real RQ worker process, on real PostgreSQL and Valkey."""

import csv
import io
import re
from pathlib import Path

import pytest

from orchestrator.models import Run
from review.models import Decision, ReviewItem
from tests.conftest import PASSWORD

SAMPLES = Path(__file__).resolve().parent.parent / "documents" / "samples"
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_upload_run_review_and_export(
    live_server, page, reviewer, second_reviewer, debate_pipeline, worker, screenshot
):
    # Log in.
    page.goto(f"{live_server.url}/accounts/login/")
    screenshot("journey-1-login")
    page.fill("input[name=username]", reviewer.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/documents/")

    # Upload a contract and start the Debate on it.
    page.goto(f"{live_server.url}/documents/upload/")
    page.set_input_files("input[type=file]", str(SAMPLES / "services-agreement-ambiguous.docx"))
    page.select_option("select[name=pipeline]", label="Contract review (Debate)")
    page.click("#upload-form button[type=submit]")
    row = page.locator(".upload-result.accepted")
    row.wait_for()
    screenshot("journey-2-uploaded")

    # Watch the run finish without reloading.
    row.locator("a[href^='/runs/']").click()
    page.wait_for_url(re.compile(r".*/runs/\d+/$"))
    status = page.get_by_test_id("run-status")
    status.filter(has_text=re.compile("Needs review|Done")).wait_for(timeout=60_000)
    assert "rule-based offline provider" in page.content()
    assert page.locator("table.findings tbody tr").count() >= 3
    screenshot("journey-3-run-finished")
    run = Run.objects.get()
    assert run.status == Run.Status.NEEDS_REVIEW, "the ambiguous sample contract has disputed clauses"

    # Nobody decides an item on a run they started: another reviewer works the inbox.
    page.goto(f"{live_server.url}{ReviewItem.objects.filter(run=run).first().get_absolute_url()}")
    assert "You started a run that raised this item" in page.content()
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", second_reviewer.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/documents/")

    # Decide every open item of the run in the inbox, from the keyboard.
    page.goto(f"{live_server.url}/review/")
    screenshot("journey-4-inbox")
    first = ReviewItem.objects.filter(run=run).order_by("created_at", "id").first()
    page.click(f"a[href='{first.get_absolute_url()}']")
    page.wait_for_url(f"**{first.get_absolute_url()}")
    page.locator("mark").first.wait_for()
    screenshot("journey-5-item")
    for _ in range(run.review_items.count()):
        page.locator("#decision-form").wait_for()
        page.keyboard.press("a")  # the finding stands (or, on an audit sample, the agents were right)
        page.keyboard.type("Checked against the contract: a real issue.")
        page.keyboard.press("Enter")
        page.wait_for_load_state()
    page.locator(".messages").wait_for()
    screenshot("journey-6-after-decisions")
    assert Decision.objects.filter(item__run=run).count() == run.review_items.count()
    run.refresh_from_db()
    assert run.status == Run.Status.REVIEWED

    # The run page shows who decided; the CSV carries it too.
    page.goto(f"{live_server.url}{run.get_absolute_url()}")
    assert f"decided by {second_reviewer.username}" in page.content()
    screenshot("journey-7-run-reviewed")
    page.goto(f"{live_server.url}/runs/")
    with page.expect_download() as download:
        page.click("text=Export CSV")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [row["run"] for row in rows] == [str(run.pk)]
    assert rows[0]["status"] == "reviewed"
    assert f"stands by {second_reviewer.username}" in rows[0]["decisions"]
    screenshot("journey-8-runs")
