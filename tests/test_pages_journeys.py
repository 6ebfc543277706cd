"""What a person sees, page by page, for each role (issue 15): in real Chromium
against the live server, with a real RQ worker, on PostgreSQL and Valkey.
Every journey keeps screenshots under test-results/screenshots/ (pages-*.png)."""

import csv
import io
import json
import re
from pathlib import Path

import pytest

from orchestrator import engine
from orchestrator.models import Run
from review.models import ReviewItem
from tests.conftest import CONTRACT, PASSWORD

SAMPLES = Path(__file__).resolve().parent.parent / "documents" / "samples"
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
FINAL = re.compile("Needs review|Done|Reviewed|Not reviewed|Failed")


def log_in(page, live_server, user) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/documents/")


def wait_finished(run: Run, page, timeout_s: int = 60) -> Run:
    """Wait (in the browser's clock) until the worker has finished `run`."""
    for _ in range(timeout_s * 4):
        run.refresh_from_db()
        if run.is_finished:
            return run
        page.wait_for_timeout(250)
    raise AssertionError(f"run {run.pk} is still {run.status}")


def test_analyst_sees_no_false_clean_and_pages_that_tell_the_truth(
    live_server, page, analyst, debate_pipeline, worker, screenshot, tmp_path
):
    log_in(page, live_server, analyst)
    # 11. Navigation marks where she is; every page has the favicon.
    assert page.locator("nav.mainnav a[aria-current=page]").inner_text() == "Documents"
    assert page.locator("link[rel=icon]").count() == 1

    # 1 + 2. A five-byte placeholder and a real contract, uploaded together: each row
    # follows its run to the end, and the placeholder is never shown as clean.
    junk = tmp_path / "contract.txt"
    junk.write_bytes(b"Hello")
    page.goto(f"{live_server.url}/documents/upload/")
    page.set_input_files("input[type=file]", [str(junk), str(SAMPLES / "services-agreement-ambiguous.docx")])
    page.select_option("select[name=pipeline]", label="Contract review (Debate)")
    page.click("#upload-form button[type=submit]")
    rows = page.get_by_test_id("upload-row")
    junk_row = rows.filter(has_text="contract.txt")
    real_row = rows.filter(has_text="services-agreement-ambiguous.docx")
    junk_row.get_by_test_id("upload-run-status").filter(has_text="Not reviewed").wait_for(timeout=60_000)
    real_row.get_by_test_id("upload-run-status").filter(has_text=re.compile("Needs review|Done")).wait_for(
        timeout=60_000
    )
    assert "5 characters of text" in junk_row.inner_text()
    assert "Done" not in junk_row.inner_text()
    real_text = real_row.inner_text()
    assert re.search(r"\d+ findings?, \d+ issues?", real_text), real_text
    assert "with a reviewer" in real_text and real_row.locator("a[href^='/review/items/']").count() >= 1
    assert page.locator("tr[data-testid=upload-row][hx-trigger]").count() == 0  # no row still asking
    screenshot("pages-01-upload-rows-final")

    junk_run = Run.objects.get(document__original_name="contract.txt")
    real_run = Run.objects.get(document__original_name="services-agreement-ambiguous.docx")

    # 1. The run page, the runs list and the CSV say "not reviewed", with the reason.
    page.goto(f"{live_server.url}{junk_run.get_absolute_url()}")
    assert page.get_by_test_id("run-status").inner_text() == "Not reviewed"
    assert "5 characters of text" in page.get_by_test_id("not-reviewed").inner_text()
    assert "No findings." not in page.content()
    screenshot("pages-02-run-not-reviewed")
    page.goto(f"{live_server.url}/runs/")
    junk_line = page.locator("table.runs tbody tr").filter(has_text="contract.txt")
    assert "Not reviewed" in junk_line.inner_text() and "5 characters of text" in junk_line.inner_text()
    assert page.locator("nav.mainnav a[aria-current=page]").inner_text() == "Runs"
    screenshot("pages-03-runs-list")
    with page.expect_download() as download:
        page.click("text=Export CSV")
    exported = {row["run"]: row for row in csv.DictReader(io.StringIO(Path(download.value.path()).read_text()))}
    assert exported[str(junk_run.pk)]["status"] == "not_reviewed"
    assert exported[str(junk_run.pk)]["not_reviewed"] == "5 characters of text"
    # 12. One timestamp format, with its zone.
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00", exported[str(real_run.pk)]["created_at"])
    with page.expect_download() as download:
        page.click("text=Steps CSV")
    steps = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+\+00:00", row["queued_at"]) for row in steps)
    with page.expect_download() as download:
        page.click("text=Findings CSV")
    raw = Path(download.value.path()).read_text()
    findings = list(csv.DictReader(io.StringIO(raw)))
    assert findings and all("\n" not in row["evidence"] for row in findings)
    assert len(raw.splitlines()) == len(findings) + 1  # one line per finding

    # 3. The documents list puts what needs attention first.
    page.goto(f"{live_server.url}/documents/")
    first = page.locator("table.documents tbody tr").first
    assert "services-agreement-ambiguous.docx" in first.inner_text() or "contract.txt" in first.inner_text()
    attention = page.get_by_test_id("attention")
    assert "1 not reviewed" in attention.filter(has_text="not reviewed").first.inner_text()
    if real_run.status == Run.Status.NEEDS_REVIEW:
        assert attention.filter(has_text="to review").count() == 1
    screenshot("pages-04-documents-attention")

    # 8. The dashboard draws a day of data: visible marks, axes with dates and units, numbers beside.
    page.goto(f"{live_server.url}/dashboard/")
    section = page.locator("section.card").filter(has_text="Contract review (Debate)")
    runs_chart = section.get_by_test_id("chart").filter(has_text="Runs").first
    bar = runs_chart.locator("rect.mark").first
    assert bar.bounding_box()["height"] > 10 and bar.bounding_box()["width"] > 2
    assert section.locator("circle.mark").count() >= 1  # latency: a dot for the single day
    assert "2 runs in total" in runs_chart.get_by_test_id("chart-summary").inner_text()
    assert "runs" in runs_chart.locator("text.tick-label").first.text_content()
    screenshot("pages-05-dashboard-one-day")

    # 7. The trace: each bar carries its duration, wait, tokens and cost; a step opens beside it.
    page.goto(f"{live_server.url}/runs/{real_run.pk}/trace/")
    notes = page.get_by_test_id("bar-note")
    assert notes.count() == real_run.steps.count()
    assert all(re.match(r"\d+(\.\d)? (ms|s)", text) for text in notes.all_text_contents())
    assert "tok" in notes.first.text_content()
    box = page.locator("svg.waterfall").bounding_box()
    last_tick = page.locator("svg.waterfall text.tick-label").last.bounding_box()
    assert last_tick["x"] + last_tick["width"] <= box["x"] + box["width"] + 1  # not clipped
    # Click the bar itself: the middle of a row may be empty axis.
    page.get_by_test_id("trace-row").first.locator("rect.bar").click()
    panel = page.locator("#step-panel").get_by_test_id("step-panel")
    panel.wait_for()
    assert page.url.endswith(f"/runs/{real_run.pk}/trace/")  # still on the trace
    screenshot("pages-06-trace-with-step-panel")

    # 6. The step page: JSON in the schema's order, the request with the document folded.
    advocate = real_run.steps.filter(key__startswith="advocate").order_by("key").first()
    page.goto(f"{live_server.url}/runs/{real_run.pk}/steps/{advocate.pk}/")
    output = page.get_by_test_id("step-output").inner_text()
    assert output.startswith('{\n  "findings": [') and json.loads(output) == advocate.output  # JSON, not a repr
    keys = re.findall(r'^      "(\w+)":', output, re.M)[:5]
    assert keys == ["type", "title", "severity", "evidence", "explanation"]  # the schema's order
    fold = page.locator("details.document-fold")
    assert fold.count() >= 1 and fold.first.get_attribute("open") is None
    screenshot("pages-07-step-json")

    # 5. Compare two runs on different documents: the warning, and findings as a reviewer reads them.
    page.goto(f"{live_server.url}/runs/compare/?a={junk_run.pk}&b={real_run.pk}")
    assert "different documents" in page.get_by_test_id("different-documents").inner_text()
    comparison = page.get_by_test_id("diff")
    assert "added" in comparison.inner_text()
    assert page.locator("details.raw-diff").get_attribute("open") is None
    screenshot("pages-08-compare")

    # 9. Offline runs say they cost nothing, and what Claude would cost.
    page.goto(f"{live_server.url}/spend/")
    offline = page.get_by_test_id("offline-spend").inner_text()
    assert "Offline runs cost nothing" in offline and "claude-" in offline
    screenshot("pages-09-spend-offline")
    page.goto(f"{live_server.url}/estimate/")
    assert "offline runs cost nothing" in page.get_by_test_id("offline-free").first.inner_text()
    assert "claude-" in page.get_by_test_id("on-claude").inner_text()
    screenshot("pages-10-estimate-offline")

    # 10. A wrong address gets the house 404, not a list of every URL.
    response = page.goto(f"{live_server.url}/runs/999999/")
    assert response.status == 404
    assert page.get_by_test_id("error-page").is_visible() and "Not found" in page.content()
    assert "URLconf" not in page.content()
    screenshot("pages-11-not-found")


def test_reviewer_going_back_after_a_decision_sees_it_decided(
    live_server, page, reviewer, make_document, debate_pipeline, worker, screenshot
):
    run = engine.start_run(make_document(CONTRACT, "supply.txt"), debate_pipeline)
    log_in(page, live_server, reviewer)
    run = wait_finished(run, page)
    assert run.status == Run.Status.NEEDS_REVIEW, "the contract has disputed clauses"
    first = ReviewItem.objects.filter(run=run).order_by("created_at", "id").first()

    page.goto(f"{live_server.url}/review/")
    assert page.locator("nav.mainnav a[aria-current=page]").inner_text() == "Review inbox"
    page.click(f"a[href^='{first.get_absolute_url()}']")
    page.wait_for_url(f"**{first.get_absolute_url()}**")
    page.locator("#decision-form").wait_for()
    assert "Review inbox" in page.locator("nav.crumbs").inner_text()
    page.keyboard.press("a")
    page.keyboard.type("Checked: a real issue.")
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: first.get_absolute_url() not in url or "decide" in url)
    page.wait_for_load_state()
    first.refresh_from_db()
    assert first.status == ReviewItem.Status.RESOLVED

    # 4. Back shows the decided item, never the open form.
    page.go_back()
    page.wait_for_load_state()
    assert first.get_absolute_url() in page.url
    assert page.locator("#decision-form").count() == 0
    assert f"by {reviewer.username}" in page.locator("section.decision").inner_text()
    screenshot("pages-12-back-shows-decided-item")


def test_admin_finds_the_house_colours_a_way_back_and_labels_to_upload(
    live_server, page, admin_user, make_document, screenshot, tmp_path
):
    log_in(page, live_server, admin_user)
    # 11. The admin looks like Quorum and leads back to it.
    page.goto(f"{live_server.url}/admin/")
    header = page.locator("#header")
    assert header.evaluate("node => getComputedStyle(node).backgroundColor") == "rgb(16, 42, 67)"
    screenshot("pages-13-admin")
    page.get_by_test_id("back-to-app").click()
    page.wait_for_url("**/documents/")

    # 11. Evaluations with no labelled set point to importlabels and take a label file here.
    page.goto(f"{live_server.url}/evaluations/")
    assert "manage.py importlabels" in page.get_by_test_id("no-sets").inner_text()
    screenshot("pages-14-evaluations-empty")
    document = make_document()
    labels = tmp_path / "labels.csv"
    expected = json.dumps({"findings": [{"type": "auto_renewal", "is_issue": True}]})
    labels.write_text(f'document_id,expected\n{document.pk},"{expected.replace('"', '""')}"\n')
    form = page.get_by_test_id("labels-form")
    form.locator("input[name=name]").fill("Contracts Q3")
    form.locator("input[type=file]").set_input_files(str(labels))
    form.locator("button[type=submit]").click()
    page.locator(".messages").filter(has_text="Imported the labelled set Contracts Q3: 1 document").wait_for()
    assert page.get_by_test_id("evaluate-form").is_visible()
    screenshot("pages-15-evaluations-labels-imported")
