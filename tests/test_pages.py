"""The page logic behind issue 15, without a browser: when a run cannot count as a
review, how two results compare, what the trace bars say, what CSV cells hold,
and the pages that change being never cached."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.urls import reverse

from orchestrator import engine
from orchestrator.demo.documents import INVOICE_EN
from orchestrator.models import Run, Step
from orchestrator.runs import trace
from orchestrator.runs.export import safe_cell
from orchestrator.runs.replay import compare_results, diff_results
from tests.conftest import CONTRACT

UNSEEN = Path(__file__).resolve().parent.parent / "insights" / "labelled" / "unseen"


def test_too_little_text_is_not_reviewed(make_document, debate_pipeline, queues):
    run = engine.start_run(make_document("Hello", "contract.pdf"), debate_pipeline)
    assert run.not_reviewed == "5 characters of text"


def test_a_document_of_another_kind_is_not_reviewed(make_document, debate_pipeline, queues):
    run = engine.start_run(make_document(INVOICE_EN, "invoice.txt"), debate_pipeline)
    assert run.not_reviewed == "this does not look like a contract (it reads as invoice)"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("path", "language", "pipeline"),
    [("contracts/u08-umowa-uslugi-pl.txt", "Polish", "debate_pipeline"),
     ("invoices/u16-zh-fapiao-short.txt", "Chinese", "supervisor_pipeline")],  # short: its language, not its length
)  # fmt: skip
def test_a_document_in_a_language_the_stand_in_cannot_read_is_unchecked_on_its_page_not_clean(
    request, client_for, analyst, make_document, run_jobs, path, language, pipeline
):
    text = (UNSEEN / path).read_text(encoding="utf-8")
    run = engine.start_run(make_document(text, Path(path).name), request.getfixturevalue(pipeline))
    run_jobs()
    run.refresh_from_db()
    assert run.not_reviewed == f"written in {language}, which the offline rule-based stand-in cannot read: unchecked"
    assert run.shown_status == "Not reviewed"
    page = client_for(analyst).get(run.get_absolute_url()).content.decode()
    assert "Offline stand-in" in page and language in page and "unchecked" in page
    assert "No findings." not in page


# Contracts and invoices in scripts the rules have no word of, few of them separated by spaces.
OTHER_SCRIPTS = [
    ("contracts/u14-gyomu-itaku-ja.txt", "Japanese", "debate_pipeline"),
    ("invoices/u15-ja-seikyusho-short.txt", "Japanese", "chain_pipeline"),
    ("invoices/u16-zh-fapiao-short.txt", "Chinese", "chain_pipeline"),
    ("contracts/u17-gonggeup-ko.txt", "Korean", "debate_pipeline"),
    ("invoices/u18-ar-fatura-short.txt", "Arabic", "chain_pipeline"),
    ("contracts/u19-heskem-sherutim-he.txt", "Hebrew", "debate_pipeline"),
    ("contracts/u20-dogovor-postavki-ru.txt", "Russian", "debate_pipeline"),
    ("invoices/u21-uk-rakhunok-short.txt", "Ukrainian", "chain_pipeline"),
    ("contracts/u22-symvasi-ergou-el.txt", "Greek", "debate_pipeline"),
    ("invoices/u23-th-invoice-short.txt", "Thai", "chain_pipeline"),
    ("contracts/u24-seva-anubandh-hi.txt", "Hindi", "debate_pipeline"),
]


@pytest.mark.parametrize(
    ("path", "language", "pipeline"), OTHER_SCRIPTS, ids=[row[1] + "-" + row[0][:3] for row in OTHER_SCRIPTS]
)
def test_a_document_in_another_script_is_unchecked_not_clean(request, make_document, queues, path, language, pipeline):
    text = (UNSEEN / path).read_text(encoding="utf-8")
    run = engine.start_run(make_document(text, Path(path).name), request.getfixturevalue(pipeline))
    assert run.not_reviewed == f"written in {language}, which the offline rule-based stand-in cannot read: unchecked"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", ["u25-distribution-ja-annex-en", "u26-bilingual-services-en-de"])
def test_a_contract_with_a_part_in_another_language_is_still_read(make_document, debate_pipeline, run_jobs, name):
    rows = json.loads((UNSEEN / "contracts.json").read_text(encoding="utf-8"))
    (row,) = [row for row in rows if Path(row["path"]).stem == name]
    run = engine.start_run(
        make_document((UNSEEN / row["path"]).read_text(encoding="utf-8"), f"{name}.txt"), debate_pipeline
    )
    run_jobs()
    run.refresh_from_db()
    assert run.not_reviewed == "" and run.shown_status != "Not reviewed"
    assert {finding["type"] for finding in run.result["findings"]} == {
        finding["type"] for finding in row["expected"]["findings"]
    }


# Papers that carry amounts and dates as an invoice does, but ask for no payment or give money back.
NOT_INVOICES = [
    ("u13-en-us-purchase-order", "a purchase order"),
    ("u28-de-bestellung", "a purchase order"),
    ("u29-fr-devis", "a quotation"),
    ("u30-en-delivery-note", "a delivery note"),
    ("u31-en-credit-note", "a credit note"),
    ("u32-nl-offerte", "a quotation"),
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("name", "kind"), NOT_INVOICES)
def test_a_paper_that_is_no_invoice_gets_no_invoice_fields(
    client_for, analyst, make_document, chain_pipeline, run_jobs, name, kind
):
    text = (UNSEEN / "invoices" / f"{name}.txt").read_text(encoding="utf-8")
    run = engine.start_run(make_document(text, f"{name}.txt"), chain_pipeline)
    run_jobs()
    run.refresh_from_db()
    assert run.not_reviewed == f"this is {kind}, not an invoice"
    assert run.shown_status == "Not reviewed"
    page = client_for(analyst).get(run.get_absolute_url()).content.decode()
    assert f"this is {kind}, not an invoice" in page


@pytest.mark.django_db(transaction=True)
def test_the_document_supervisor_does_not_take_a_purchase_order_for_an_invoice(
    make_document, supervisor_pipeline, run_jobs
):
    text = (UNSEEN / "invoices" / "u13-en-us-purchase-order.txt").read_text(encoding="utf-8")
    run = engine.start_run(make_document(text, "po.txt"), supervisor_pipeline)
    run_jobs()
    run.refresh_from_db()
    assert run.result["doc_type"] != "invoice"
    assert not run.steps.filter(key="specialist:financial").exists()
    assert "issue_date" not in run.result["fields"] and "total" not in run.result["fields"]


def test_a_contract_is_reviewed(make_document, debate_pipeline, queues):
    run = engine.start_run(make_document(CONTRACT), debate_pipeline)
    assert run.not_reviewed == ""


def test_a_finished_run_that_could_not_review_never_reads_done(make_document, debate_pipeline):
    run = Run.objects.create(
        document=make_document("Hi"), pipeline=debate_pipeline, status=Run.Status.DONE, not_reviewed="2 characters"
    )
    assert run.shown_status == "Not reviewed"
    run.status = Run.Status.FAILED
    assert run.shown_status == "Failed"  # a failure says so first


def test_the_runs_list_says_not_reviewed_with_the_reason(client_for, analyst, make_document, debate_pipeline):
    Run.objects.create(
        document=make_document("Hi"), pipeline=debate_pipeline, status=Run.Status.DONE, not_reviewed="2 characters"
    )
    page = client_for(analyst).get(reverse("orchestrator:runs")).content.decode()
    assert "Not reviewed" in page and "2 characters" in page and 'class="badge done"' not in page


def test_csv_cells_are_one_line_and_times_carry_their_zone():
    assert safe_cell("The Supplier shall\nnot be liable\r\n  for") == "The Supplier shall not be liable for"
    assert safe_cell(datetime(2026, 11, 30, 5, 1, 2, tzinfo=UTC)) == "2026-11-30T05:01:02+00:00"
    assert safe_cell("=1+1") == "'=1+1"


def test_both_sides_empty_is_not_a_difference():
    assert diff_results({"fields": {"note": None}}, {"fields": {"note": ""}}) == []
    assert diff_results({"findings": []}, {}) == []


def test_findings_compare_as_added_removed_and_changed():
    before = {"findings": [
        {"key": "renewal:1", "title": "Auto-renewal", "is_issue": True, "evidence": "renews\nautomatically"},
        {"key": "law:1", "title": "Governing law", "is_issue": False, "evidence": "New York"},
    ]}  # fmt: skip
    after = {"findings": [
        {"key": "renewal:1", "title": "Auto-renewal", "is_issue": False, "evidence": "renews automatically"},
        {"key": "liability:1", "title": "Unlimited liability", "is_issue": True, "evidence": "not be limited"},
    ]}  # fmt: skip
    compared = compare_results(before, after)
    assert [finding["key"] for finding in compared["added"]] == ["liability:1"]
    assert [finding["key"] for finding in compared["removed"]] == ["law:1"]
    # The evidence differs only in its line break: not a change a reviewer would see.
    assert compared["changed"] == [
        {"key": "renewal:1", "title": "Auto-renewal",
         "changes": [{"what": "verdict", "before": "issue", "after": "not an issue"}]},
    ]  # fmt: skip


def test_fields_compare_side_by_side():
    compared = compare_results({"fields": {"total": 4.90494, "currency": "EUR"}}, {"fields": {"total": 4904.94}})
    rows = {row["name"]: row for row in compared["fields"]}
    assert rows["total"]["differs"] and (rows["total"]["a"], rows["total"]["b"]) == (4.90494, 4904.94)
    assert rows["currency"]["differs"] and compared["fields_differ"] == 2


def test_trace_bars_carry_durations_wait_tokens_and_cost(make_document, debate_pipeline):
    run = Run.objects.create(document=make_document(), pipeline=debate_pipeline, status=Run.Status.DONE)
    at = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)
    step = Step.objects.create(
        run=run, key="advocate:a", slot="advocate:a", status=Step.Status.SUCCEEDED, queued_at=at,
        started_at=at + timedelta(milliseconds=40), finished_at=at + timedelta(milliseconds=2440), latency_ms=2400,
        input_tokens=1234, output_tokens=210, cost=Decimal("0.0123"),
    )  # fmt: skip
    chart = trace.waterfall([step], at + timedelta(seconds=5))
    [row] = chart["rows"]
    assert row.note == "2.4 s · wait 40 ms · 1,234→210 tok · $0.0123"
    assert [tick["anchor"] for tick in chart["ticks"]][::4] == ["start", "end"]  # the last label ends at the edge


def test_pages_that_change_are_never_cached(client_for, analyst, make_document, debate_pipeline):
    run = Run.objects.create(document=make_document(), pipeline=debate_pipeline)
    client = client_for(analyst)
    for url in (reverse("review:inbox"), reverse("orchestrator:runs"), run.get_absolute_url(),
                reverse("documents:list"), reverse("documents:upload")):  # fmt: skip
        assert "no-store" in client.get(url)["Cache-Control"], url


def test_a_missing_page_is_the_house_404(client_for, analyst):
    response = client_for(analyst).get("/runs/999999/")
    assert response.status_code == 404
    assert b'data-testid="error-page"' in response.content and b"Go to the documents" in response.content


def test_an_upload_row_asks_again_until_its_run_ends(client_for, analyst, make_document, debate_pipeline):
    run = Run.objects.create(document=make_document(), pipeline=debate_pipeline, status=Run.Status.RUNNING)
    client = client_for(analyst)
    url = reverse("documents:upload")
    row = client.get(url, {"run": run.pk, "name": "supply.pdf"}, headers={"HX-Request": "true"}).content.decode()
    assert row.strip().startswith("<tr") and 'hx-trigger="every 1s"' in row and "Running" in row
    Run.objects.filter(pk=run.pk).update(status=Run.Status.DONE, result={"findings": [], "counts": {"issues": 0}})
    row = client.get(url, {"run": run.pk, "name": "supply.pdf"}, headers={"HX-Request": "true"}).content.decode()
    assert "hx-trigger" not in row and "Done" in row and "0 findings, 0 issues" in row
