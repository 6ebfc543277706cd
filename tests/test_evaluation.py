"""Evaluation: pipelines scored against a labelled set, compared side by side,
and two runs compared step by step (issue 6)."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from insights import evaluation
from insights.models import Evaluation, EvaluationRun, LabelledDocument, LabelledSet
from orchestrator.demo.documents import INVOICE_DE
from orchestrator.models import Run, Step
from tests.conftest import PASSWORD

NOW = timezone.now()


def finding(kind: str, is_issue: bool) -> dict:
    return {"key": kind, "type": kind, "title": kind, "is_issue": is_issue}


def finished_run(document, pipeline, result: dict, cost: str, wall_ms: int) -> Run:
    return Run.objects.create(
        document=document,
        pipeline=pipeline,
        status=Run.Status.DONE,
        result=result,
        cost=Decimal(cost),
        started_at=NOW,
        finished_at=NOW + timedelta(milliseconds=wall_ms),
    )


@pytest.fixture
def scored(db, make_document, debate_pipeline, analyst):
    """Four labelled documents and the runs one evaluation got on them, with known answers."""
    labelled_set = LabelledSet.objects.create(name="Known", slug="known")
    current = Evaluation.objects.create(
        labelled_set=labelled_set, pipeline=debate_pipeline, group="g1", created_by=analyst
    )
    cases = [
        # expected, result, cost, wall ms
        (
            {"findings": [{"type": "auto_renewal", "is_issue": True}, {"type": "liability", "is_issue": True}]},
            {
                "findings": [finding("auto_renewal", True), finding("liability", True), finding("non_compete", False)],
                "counts": {"agreed": 2, "disputed": 1, "issues": 2},
            },
            "0.01",
            1000,
        ),
        (
            {"findings": [{"type": "auto_renewal", "is_issue": True}]},
            {
                "findings": [finding("auto_renewal", False), finding("non_compete", True)],
                "counts": {"agreed": 1, "disputed": 1, "issues": 1},
            },
            "0.02",
            2000,
        ),
        ({"findings": []}, {"findings": [], "counts": {"agreed": 0, "disputed": 0, "issues": 0}}, "0.03", 3000),
        (
            {"fields": {"total": "4904.94", "currency": "EUR"}},
            {"fields": {"total": 4904.94, "currency": "USD"}},
            "0.04",
            4000,
        ),
    ]
    for index, (expected, result, cost, wall_ms) in enumerate(cases):
        document = make_document(f"document {index}", f"doc{index}.txt")
        labelled = LabelledDocument.objects.create(labelled_set=labelled_set, document=document, expected=expected)
        run = finished_run(document, debate_pipeline, result, cost, wall_ms)
        EvaluationRun.objects.create(evaluation=current, labelled_document=labelled, run=run)
    return current


def test_it_scores_a_known_labelled_set(scored):
    figures = evaluation.score(scored)

    assert figures["docs"] == 4
    assert figures["accuracy"] == 0.5  # the first and third documents match exactly
    assert figures["types"]["auto_renewal"] == {
        "tp": 1, "fp": 0, "fn": 1, "precision": 1.0, "recall": 0.5, "f1": 0.6667
    }  # fmt: skip
    assert figures["types"]["liability"] == {"tp": 1, "fp": 0, "fn": 0, "precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert figures["types"]["non_compete"] == {
        "tp": 0, "fp": 1, "fn": 0, "precision": 0.0, "recall": None, "f1": 0.0
    }  # fmt: skip
    assert (figures["precision"], figures["recall"], figures["f1"]) == (0.6667, 0.6667, 0.6667)
    assert figures["fields"] == {"currency": 0.0, "total": 1.0}
    assert figures["cost_per_doc"] == 0.025
    assert figures["latency_ms_per_doc"] == 2500
    assert figures["disagreement_rate"] == 0.4


def test_findings_a_nested_debate_brought_are_scored(db, make_document, contract_supervisor, analyst):
    """contract-supervisor's findings live in its fields (the clause specialist's
    Debate): scored as its own, or the pipeline reads as catching nothing."""
    labelled_set = LabelledSet.objects.create(name="Known", slug="known")
    current = Evaluation.objects.create(
        labelled_set=labelled_set, pipeline=contract_supervisor, group="g1", created_by=analyst
    )
    document = make_document()
    expected = {"findings": [{"type": "auto_renewal", "is_issue": True}]}
    labelled = LabelledDocument.objects.create(labelled_set=labelled_set, document=document, expected=expected)
    nested = [
        {**finding("auto_renewal", True), "evidence": "renews", "status": "agreed"},
        {**finding("governing_law", False), "evidence": "New York", "status": "disputed"},
    ]
    result = {"pattern": "supervisor", "findings": [], "counts": {"agreed": 0, "disputed": 0, "issues": 0},
              "fields": {"doc_type": "contract", "findings": nested}}  # fmt: skip
    run = finished_run(document, contract_supervisor, result, "0", 10)
    EvaluationRun.objects.create(evaluation=current, labelled_document=labelled, run=run)

    figures = evaluation.score(current)
    assert (figures["accuracy"], figures["recall"], figures["precision"]) == (1.0, 1.0, 1.0)
    assert figures["disagreement_rate"] == 0.5


def test_an_evaluation_completes_only_once_every_run_has_finished(scored):
    run = Run.objects.filter(pk__in=scored.runs.values("run")).first()
    Run.objects.filter(pk=run.pk).update(status=Run.Status.RUNNING)
    assert not evaluation.complete_if_finished(scored)
    assert scored.status == Evaluation.Status.RUNNING

    Run.objects.filter(pk=run.pk).update(status=Run.Status.DONE)
    assert evaluation.complete_if_finished(scored)
    scored.refresh_from_db()
    assert scored.status == Evaluation.Status.COMPLETE
    assert scored.figures["accuracy"] == 0.5


def test_report_shows_the_side_by_side_table_and_the_previous_evaluation(scored, client_for, analyst):
    evaluation.complete_if_finished(scored)
    later = Evaluation.objects.create(labelled_set=scored.labelled_set, pipeline=scored.pipeline, group="g2")
    for row in scored.runs.all():
        EvaluationRun.objects.create(evaluation=later, labelled_document=row.labelled_document, run=row.run)

    response = client_for(analyst).get(reverse("insights:evaluation", args=[later.pk]))

    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-testid="side-by-side"' in page and "$0.0250" in page
    assert "auto_renewal" in page
    assert f"evaluation {scored.pk}</a>" in page  # the previous evaluation of the same set and pipeline


def test_evaluations_page_lists_sets_and_starts_evaluations(db, client_for, analyst, make_document, debate_pipeline):
    labelled_set = LabelledSet.objects.create(name="Contracts", slug="contracts")
    LabelledDocument.objects.create(labelled_set=labelled_set, document=make_document(), expected={"findings": []})
    client = client_for(analyst)
    assert "Contracts" in client.get(reverse("insights:evaluations")).content.decode()

    response = client.post(
        reverse("insights:evaluations"), {"labelled_set": "contracts", "pipelines": [debate_pipeline.slug]}
    )

    started = Evaluation.objects.get()
    assert response.status_code == 302 and response["Location"] == started.get_absolute_url()
    assert started.runs.count() == 1 and started.created_by == analyst


@pytest.mark.parametrize(
    "bad_row, message",
    [
        ('99999,"{}"', "row 2: there is no document 99999"),
        ("{document},not json", "row 2: the expected answer is not JSON"),
        ('abc,"{}"', "row 2: document_id &#x27;abc&#x27; is not a number"),
    ],
)
def test_a_labelled_set_upload_names_the_bad_row_and_imports_nothing(
    db, client_for, analyst, make_document, bad_row, message
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    document = make_document()
    text = f'document_id,expected\n{document.pk},"{{}}"\n{bad_row.replace("{document}", str(document.pk))}\n'
    response = client_for(analyst).post(
        reverse("insights:evaluations"),
        {"labels": "1", "name": "Contracts", "file": SimpleUploadedFile("set.csv", text.encode())},
    )
    assert response.status_code == 200
    assert f"Nothing imported: {message}" in response.content.decode()
    assert not LabelledSet.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_evaluate_command_waits_and_prints_the_table(make_document, debate_pipeline, worker, capsys):
    labelled_set = LabelledSet.objects.create(name="Contracts", slug="contracts")
    LabelledDocument.objects.create(
        labelled_set=labelled_set,
        document=make_document(),
        expected={"findings": [{"type": "auto_renewal", "is_issue": True}]},
    )

    call_command("evaluate", "contracts", "--pipeline", debate_pipeline.slug, "--wait", "--timeout", "60")

    out = capsys.readouterr().out
    header, row = out.strip().splitlines()[-2:]
    assert header.split() == [
        "pipeline", "docs", "accuracy", "precision", "recall", "F1", "$/doc", "latency/doc", "disagreement",
        "items/doc", "judge-agreement",
    ]  # fmt: skip
    assert row.split()[:2] == [debate_pipeline.slug, "1"]
    assert "$" in row and " ms" in row
    assert Evaluation.objects.get().status == Evaluation.Status.COMPLETE


def test_import_set_reads_document_ids_and_paths(db, make_document, tmp_path):
    existing = make_document()
    path = tmp_path / "invoice.txt"
    path.write_text("INVOICE\nTotal: 4.904,94 EUR\n")

    labelled_set = evaluation.import_set(
        "Invoices",
        [
            {"document_id": str(existing.pk), "expected": '{"findings": []}'},
            {"path": str(path), "expected": {"fields": {"total": "4904.94"}}},
        ],
    )

    assert labelled_set.slug == "invoices"
    expected = {labelled.document.original_name: labelled.expected for labelled in labelled_set.documents.all()}
    assert expected == {"contract.txt": {"findings": []}, "invoice.txt": {"fields": {"total": "4904.94"}}}


def test_set_from_decisions_takes_the_reviewed_findings(db, make_document, debate_pipeline):
    run = finished_run(
        make_document(), debate_pipeline, {"findings": [finding("a", True), finding("b", False)]}, "0", 1
    )
    labelled_set = evaluation.set_from_decisions("Reviewed", [run])
    assert labelled_set.documents.get().expected == {"findings": [{"type": "a", "is_issue": True}]}


def test_compare_page_diffs_results_and_highlights_differing_steps(
    db, client_for, analyst, make_document, debate_pipeline
):
    document = make_document()
    a = finished_run(document, debate_pipeline, {"fields": {"total": 4.90494}}, "0.01", 10)
    b = finished_run(document, debate_pipeline, {"fields": {"total": 4904.94}}, "0.01", 10)
    for run, normalized in [(a, 4.90494), (b, 4904.94)]:
        Step.objects.create(run=run, key="stage:1:extract", slot="s1", output={"total": "4.904,94"})
        Step.objects.create(run=run, key="stage:2:normalize", slot="s2", output={"total": normalized})

    response = client_for(analyst).get(reverse("orchestrator:compare"), {"a": a.pk, "b": b.pk})

    assert response.status_code == 200
    diff = response.context["diff"]
    assert diff["fields"] == [{"name": "total", "a": 4.90494, "b": 4904.94, "differs": True}]
    assert diff["raw"] == [{"path": "fields/total", "before": 4.90494, "after": 4904.94}]
    assert [(pair["key"], pair["differs"]) for pair in response.context["steps"]] == [
        ("stage:1:extract", False),
        ("stage:2:normalize", True),
    ]
    assert response.content.decode().count('data-testid="differs"') == 1


def test_comparing_with_a_run_that_does_not_exist_says_so_on_the_form(
    db, client_for, analyst, make_document, debate_pipeline
):
    run = finished_run(make_document(), debate_pipeline, {}, "0", 1)
    response = client_for(analyst).get(reverse("orchestrator:compare"), {"a": run.pk, "b": 99999})
    assert response.status_code == 200
    assert "Compare with run: There is no run 99999." in response.content.decode()
    assert f'value="{run.pk}"' in response.content.decode()  # what was typed stays to be corrected


def test_run_page_links_to_the_comparison(db, client_for, analyst, make_document, debate_pipeline):
    run = finished_run(make_document(), debate_pipeline, {}, "0", 1)
    page = client_for(analyst).get(run.get_absolute_url()).content.decode()
    assert reverse("orchestrator:compare") in page


@pytest.mark.parametrize("name", ["insights:evaluations", "insights:evaluation", "orchestrator:compare"])
def test_outsider_is_refused_every_evaluation_page(scored, client_for, outsider, name):
    url = reverse(name, args=[scored.pk] if name == "insights:evaluation" else [])
    client = client_for(outsider)
    assert client.get(url).status_code == 403
    if name == "insights:evaluations":
        assert client.post(url, {"labelled_set": "known"}).status_code == 403


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_evaluation_report_and_run_comparison(
    live_server, page, analyst, make_document, debate_pipeline, worker, screenshot
):
    labelled_set = LabelledSet.objects.create(name="Contracts", slug="contracts")
    for document in [make_document(), make_document(INVOICE_DE, "invoice.txt")]:
        expected = {"findings": [{"type": "auto_renewal", "is_issue": True}]}
        LabelledDocument.objects.create(labelled_set=labelled_set, document=document, expected=expected)
    [started] = evaluation.start_evaluations(labelled_set, [debate_pipeline], analyst)

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", analyst.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/documents/")

    # The report fills in by itself once every run has finished.
    page.goto(f"{live_server.url}{started.get_absolute_url()}")
    page.get_by_test_id("side-by-side").filter(has_text="$").wait_for(timeout=60_000)
    page.get_by_test_id("per-type").wait_for()
    screenshot("evaluation-1-report")
    assert Evaluation.objects.get().status == Evaluation.Status.COMPLETE

    # From one run's page, compare it with the other.
    a, b = Run.objects.top_level().order_by("id")
    page.goto(f"{live_server.url}{a.get_absolute_url()}")
    page.fill("[data-testid=compare-form] input[name=b]", str(b.pk))
    page.click("[data-testid=compare-form] button")
    page.wait_for_url(re.compile(r".*/runs/compare/\?a=\d+&b=\d+"))
    page.get_by_test_id("diff").wait_for()
    screenshot("evaluation-2-run-comparison")

    page.goto(f"{live_server.url}/runs/{a.pk}/trace/")
    screenshot("evaluation-3-waterfall")
    page.goto(f"{live_server.url}/dashboard/")
    screenshot("evaluation-4-dashboard")
