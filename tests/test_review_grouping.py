"""Grouping and linking as a reviewer sees them: one item per finding type per
document, showing every quote and every run that raised it; one decision settles
the clause in every linked run. And the choices a reviewer is offered cannot mean
the same thing twice."""

import pytest

from orchestrator.models import Run
from review.models import Decision, ReviewItem, ReviewLink
from review.routing import open_review_items
from tests.test_review import LIABILITY, RENEWAL, finding, liability_audit, make_run, position, renewal_disputed

SECOND_RENEWAL = "Each renewal term renews again unless terminated."


def second_renewal() -> dict:
    disputed = renewal_disputed()
    a = position("auto_renewal", "Renews again", SECOND_RENEWAL)
    return {**disputed, **a, "a": a, "key": "auto_renewal:2", "judge": {**disputed["judge"], "key": "auto_renewal:2"}}


def rerun(run: Run, findings: list[dict], pipeline=None) -> Run:
    """Another run on the same document (a re-run, a replay, a nested Debate)."""
    again = Run.objects.create(
        document=run.document,
        pipeline=pipeline or run.pipeline,
        status=Run.Status.NEEDS_REVIEW,
        result={"pattern": "debate", "stand_in": True, "findings": findings, "counts": {}},
    )
    open_review_items(again)
    return again


@pytest.fixture
def text_with_both() -> str:
    return f"1. {RENEWAL}\n2. {SECOND_RENEWAL}\n3. {LIABILITY}\n"


def test_findings_of_one_type_in_a_document_are_one_item_with_every_quote(client_for, reviewer, text_with_both):
    run = make_run([renewal_disputed(), second_renewal()], text=text_with_both)
    [item] = run.review_items.all()
    assert item.finding_type == "auto_renewal"
    assert finding(run, "auto_renewal:1")["review"]["item_id"] == finding(run, "auto_renewal:2")["review"]["item_id"]

    page = client_for(reviewer).get(item.get_absolute_url()).text
    assert "Every quote of this auto_renewal finding (2)" in page
    assert RENEWAL in page and SECOND_RENEWAL in page
    # Both quotes are marked in the document.
    assert page.count("<mark") >= 2


def test_a_decision_covers_the_clause(reviewer, text_with_both):
    run = make_run([renewal_disputed(), second_renewal()], text=text_with_both)
    item = run.review_items.get()
    item.decide(reviewer, Decision.Choice.NOT_ISSUE, "Both renewals need a signed order.")
    run.refresh_from_db()
    assert run.status == Run.Status.REVIEWED
    for key in ("auto_renewal:1", "auto_renewal:2"):
        settled = finding(run, key)
        assert settled["is_issue"] is False and settled["review"]["decision"]["choice"] == "not_issue"
    # Each keeps its own quote.
    assert finding(run, "auto_renewal:2")["evidence"] == SECOND_RENEWAL


def test_two_runs_raising_the_same_finding_on_one_document_share_one_item(client_for, reviewer, admin_user):
    direct = make_run([renewal_disputed()])
    nested = rerun(direct, [renewal_disputed()])
    assert ReviewItem.objects.count() == 1
    item = ReviewItem.objects.get()
    assert set(item.runs.values_list("pk", flat=True)) == {direct.pk, nested.pk}
    assert finding(nested, "auto_renewal:1")["review"]["item_id"] == item.pk

    inbox = client_for(reviewer).get("/review/").text
    assert f'href="/runs/{direct.pk}/"' in inbox and f'href="/runs/{nested.pk}/"' in inbox
    page = client_for(reviewer).get(item.get_absolute_url()).text
    assert f"Run {direct.pk}</a>" in page and f"Run {nested.pk}</a>" in page

    # Deciding it finalises every linked run.
    item.decide(reviewer, Decision.Choice.STANDS)
    for run in (direct, nested):
        run.refresh_from_db()
        assert run.status == Run.Status.REVIEWED
        assert finding(run, "auto_renewal:1")["review"]["decision"]["by"] == reviewer.username


def test_a_later_run_that_joined_an_item_points_to_it_in_its_upload_row_and_the_api(client, client_for, analyst):
    from django.urls import reverse

    from tests.test_api import bearer

    first = make_run([renewal_disputed()])
    later = rerun(first, [renewal_disputed()])
    item = ReviewItem.objects.get()
    assert item.run == first  # the item is the first run's; the later one is linked to it

    row = client_for(analyst).get(reverse("documents:upload"), {"run": later.pk}, headers={"HX-Request": "true"}).text
    assert "1 with a reviewer" in row and item.get_absolute_url() in row
    api = client.get(f"/api/v1/runs/{later.pk}", headers=bearer(analyst)).json()
    assert [brief["id"] for brief in api["review_items"]] == [item.pk]


def test_a_run_after_the_decision_opens_a_new_item(reviewer):
    first = make_run([renewal_disputed()])
    first.review_items.get().decide(reviewer, Decision.Choice.STANDS)
    later = rerun(first, [renewal_disputed()])
    assert ReviewItem.objects.count() == 2
    assert ReviewLink.objects.filter(run=later).count() == 1
    # Filing the same run twice opens nothing more.
    open_review_items(later)
    assert ReviewItem.objects.count() == 2


def test_a_disagreement_offers_stands_edit_not_an_issue(client_for, reviewer):
    item = make_run([renewal_disputed()]).review_items.get()
    page = client_for(reviewer).get(item.get_absolute_url()).text
    for value in ("stands", "custom", "not_issue"):
        assert f'value="{value}"' in page
    for value in ("accept_a", "accept_b", "agents_right", "agents_wrong"):
        assert f'value="{value}"' not in page
    assert "Recommends: the finding stands" in page
    inbox = client_for(reviewer).get("/review/").text
    assert "Recommends: the finding stands" in inbox
    # Going against the judge needs a note; agreeing does not.
    refused = client_for(reviewer).post(f"/review/items/{item.pk}/decide/", {"choice": "not_issue"})
    assert refused.status_code == 400 and "Say why in a note" in refused.text
    assert client_for(reviewer).post(f"/review/items/{item.pk}/decide/", {"choice": "stands"}).status_code == 302
    item.refresh_from_db()
    decision = item.current_decision()
    assert (decision.is_issue, decision.overturned) == (True, False)


def test_an_audit_sample_offers_agents_right_or_wrong(client_for, reviewer):
    item = make_run([liability_audit()]).review_items.get()
    page = client_for(reviewer).get(item.get_absolute_url()).text
    assert 'value="agents_right"' in page and 'value="agents_wrong"' in page
    assert 'value="stands"' not in page and 'value="accept_b"' not in page
    refused = client_for(reviewer).post(f"/review/items/{item.pk}/decide/", {"choice": "stands"})
    assert refused.status_code == 400
    response = client_for(reviewer).post(
        f"/review/items/{item.pk}/decide/", {"choice": "agents_wrong", "note": "Clause 3 caps it after all."}
    )
    assert response.status_code == 302
    item.refresh_from_db()
    decision = item.current_decision()
    assert (decision.choice, decision.is_issue, decision.overturned) == ("agents_wrong", False, True)
