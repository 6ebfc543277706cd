"""Four eyes as a compliance officer would check it: two reviewers who agree settle
a high-severity item, the second sees the first decision only after deciding, a
disagreement goes to an admin; and nobody decides an item on a run they started."""

import pytest

from orchestrator.models import Run
from review.models import AlreadyDecided, Decision, NotYours, ReviewItem
from tests.test_review import finding, make_run, renewal_disputed


def four_eyes() -> dict:
    disputed = renewal_disputed()
    return {**disputed, "routing": {"rule": "disagreement", "queued": True, "four_eyes": True, "own_runs": False}}


@pytest.fixture
def item(db) -> ReviewItem:
    return make_run([four_eyes()]).review_items.get()


def test_two_reviewers_who_agree_settle_it(item, reviewer, second_reviewer, client_for):
    assert item.reviews_needed == 2
    item.decide(reviewer, Decision.Choice.STANDS)
    item.refresh_from_db()
    assert item.status == ReviewItem.Status.OPEN and item.current_decision() is None
    assert item.run.status == Run.Status.NEEDS_REVIEW
    # The first reviewer cannot give the second decision too.
    with pytest.raises(NotYours):
        item.decide(reviewer, Decision.Choice.STANDS)
    page = client_for(reviewer).get(item.get_absolute_url()).text
    assert "a second reviewer must decide too" in page

    # The second does not see the first decision before deciding.
    page = client_for(second_reviewer).get(item.get_absolute_url()).text
    assert 'value="stands"' in page
    assert "gave the first of two decisions" in page
    assert f"<strong>{reviewer.username}</strong> decided" not in page

    response = client_for(second_reviewer).post(f"/review/items/{item.pk}/decide/", {"choice": "stands"})
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.status == ReviewItem.Status.RESOLVED
    assert item.current_decision().stage == Decision.Stage.SECOND
    run = item.run
    assert finding(run, "auto_renewal:1")["review"]["decision"]["by"] == second_reviewer.username
    run.refresh_from_db()
    assert run.status == Run.Status.REVIEWED
    # Now both decisions show.
    page = client_for(second_reviewer).get(item.get_absolute_url()).text
    assert f"<strong>{reviewer.username}</strong> decided" in page


def test_a_disagreement_between_them_goes_to_an_admin(item, reviewer, second_reviewer, admin_user, client_for):
    item.decide(reviewer, Decision.Choice.STANDS)
    item.decide(second_reviewer, Decision.Choice.NOT_ISSUE, "Renewal needs a signed order.")
    item.refresh_from_db()
    assert item.escalated and item.status == ReviewItem.Status.OPEN
    page = client_for(second_reviewer).get(item.get_absolute_url()).text
    assert "an admin decides this item" in page
    with pytest.raises(NotYours):
        item.decide(second_reviewer, Decision.Choice.NOT_ISSUE, "again")

    response = client_for(admin_user).post(
        f"/review/items/{item.pk}/decide/", {"choice": "not_issue", "note": "Clause 9 needs a signed order."}
    )
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.status == ReviewItem.Status.RESOLVED
    standing = item.current_decision()
    assert (standing.stage, standing.decided_by, standing.is_issue) == ("arbiter", admin_user, False)
    assert finding(item.run, "auto_renewal:1")["is_issue"] is False
    with pytest.raises(AlreadyDecided):
        item.decide(reviewer, Decision.Choice.STANDS)


def test_nobody_decides_an_item_on_a_run_they_started(reviewer, second_reviewer, client_for):
    run = make_run([renewal_disputed()])
    Run.objects.filter(pk=run.pk).update(created_by=reviewer)
    item = run.review_items.get()
    with pytest.raises(NotYours):
        item.decide(reviewer, Decision.Choice.STANDS)
    page = client_for(reviewer).get(item.get_absolute_url()).text
    assert "You started a run that raised this item" in page and 'id="decision-form"' not in page
    assert 'id="claim-form"' not in page  # no Claim button that can only be refused
    client_for(reviewer).post(f"/review/items/{item.pk}/claim/")
    item.refresh_from_db()
    assert item.claimed_by is None
    item.decide(second_reviewer, Decision.Choice.STANDS)
    item.refresh_from_db()
    assert item.is_resolved
