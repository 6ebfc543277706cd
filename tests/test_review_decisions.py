"""Claims and decisions: claiming, expiry, release and reassignment; deciding
(with notes, edits and the next item); exactly one decision under concurrency;
the append-only audit trail and superseding; and how decisions settle a run."""

import threading
import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.core import signing
from django.db import IntegrityError, connection, transaction
from django.db.models.deletion import ProtectedError
from django.test import Client
from django.utils import timezone

from config.roles import REVIEWER
from orchestrator.models import Run
from review.forms import OPENED_SALT, seconds_since_opened
from review.models import AlreadyDecided, Claim, Decision, NotDecided, ReviewItem
from tests.test_review import (
    LIABILITY,
    RENEWAL,
    finding,
    liability_audit,
    make_run,
    partial_result,
    payment_agreed,
    renewal_disputed,
    url_with,
)


@pytest.fixture
def item(db) -> ReviewItem:
    return make_run().review_items.get()


def expire(item: ReviewItem) -> None:
    past = timezone.now() - timedelta(seconds=1)
    ReviewItem.objects.filter(pk=item.pk).update(claim_expires_at=past)
    Claim.objects.filter(item=item, ended_at__isnull=True).update(expires_at=past)


# Claims


def test_reviewer_claims_an_item_for_the_configured_time(client_for, reviewer, item, settings):
    settings.QUORUM_REVIEW_CLAIM_MINUTES = 30
    response = client_for(reviewer).post(f"/review/items/{item.pk}/claim/", follow=True)
    item.refresh_from_db()
    assert item.status == ReviewItem.Status.CLAIMED
    assert item.claimed_by == reviewer
    remaining = item.claim_expires_at - timezone.now()
    assert timedelta(minutes=29) < remaining <= timedelta(minutes=30)
    assert "Claimed by you until" in response.text
    assert Claim.objects.get(item=item).user == reviewer


def test_a_claim_lasts_fifteen_minutes_by_default(reviewer, item):
    item.claim(reviewer)
    assert timedelta(minutes=14) < item.claim_expires_at - timezone.now() <= timedelta(minutes=15)


def test_claiming_again_renews_the_same_claim(reviewer, item):
    item.claim(reviewer)
    first_expiry = item.claim_expires_at
    time.sleep(0.01)
    assert item.claim(reviewer)
    assert item.claim_expires_at > first_expiry
    assert item.claims.count() == 1


def test_second_reviewer_cannot_claim_a_claimed_item(client_for, reviewer, second_reviewer, item):
    assert item.claim(reviewer)
    response = client_for(second_reviewer).post(f"/review/items/{item.pk}/claim/", follow=True)
    item.refresh_from_db()
    assert item.claimed_by == reviewer
    assert "Claimed by daniel until" in response.text
    assert "not yours to decide while the claim lasts" in response.text
    assert 'id="decision-form"' not in response.text


def test_an_expired_claim_can_be_taken_and_shows_as_expired(client_for, reviewer, second_reviewer, item):
    assert item.claim(reviewer)
    expire(item)
    assert item.claim(second_reviewer)
    assert item.claimed_by == second_reviewer
    old, new = item.claims.all()
    assert (old.user, old.end, old.ended_at) == (reviewer, Claim.End.EXPIRED, old.expires_at)
    assert (new.user, new.end) == (second_reviewer, "")
    page = client_for(reviewer).get(item.get_absolute_url()).text
    assert "<strong>daniel</strong> let the claim expire" in page


def test_an_expired_claim_no_longer_holds_the_item_back(client_for, reviewer, second_reviewer, item):
    item.claim(reviewer)
    expire(item)
    inbox = client_for(second_reviewer).get("/review/?claimed=unclaimed").text
    assert item.get_absolute_url() in inbox
    decision = item.decide(second_reviewer, "accept_a")
    assert decision.decided_by == second_reviewer
    assert item.claims.get().end == Claim.End.EXPIRED


def test_reviewer_releases_their_claim(client_for, reviewer, item):
    item.claim(reviewer)
    response = client_for(reviewer).post(f"/review/items/{item.pk}/release/?reason=disagreement")
    assert response["Location"] == "/review/?reason=disagreement"
    item.refresh_from_db()
    assert item.status == ReviewItem.Status.OPEN
    assert item.claimed_by is None
    claim = item.claims.get()
    assert (claim.end, claim.ended_by) == (Claim.End.RELEASED, reviewer)
    assert claim.ended_at is not None


def test_reviewer_cannot_release_someone_elses_claim(client_for, reviewer, second_reviewer, item):
    item.claim(reviewer)
    assert not item.release(second_reviewer)
    assert client_for(second_reviewer).post(f"/review/items/{item.pk}/release/").status_code == 403
    item.refresh_from_db()
    assert item.claimed_by == reviewer


def test_admin_releases_a_claim_someone_walked_away_from(client_for, admin_user, reviewer, item):
    item.claim(reviewer)
    client_for(admin_user).post(f"/review/items/{item.pk}/release/")
    item.refresh_from_db()
    assert item.status == ReviewItem.Status.OPEN
    claim = item.claims.get()
    assert (claim.end, claim.ended_by) == (Claim.End.RELEASED, admin_user)
    page = client_for(admin_user).get(item.get_absolute_url()).text
    assert "<strong>priya</strong> released daniel&#x27;s claim" in page


def test_admin_reassigns_a_claimed_item(client_for, admin_user, reviewer, second_reviewer, item):
    item.claim(reviewer)
    response = client_for(admin_user).post(f"/review/items/{item.pk}/assign/", {"reviewer": "rosa"}, follow=True)
    assert "Assigned to rosa until" in response.text
    item.refresh_from_db()
    assert (item.status, item.claimed_by) == (ReviewItem.Status.CLAIMED, second_reviewer)
    old, new = item.claims.all()
    assert (old.user, old.end, old.ended_by) == (reviewer, Claim.End.REASSIGNED, admin_user)
    assert (new.user, new.assigned_by, new.end) == (second_reviewer, admin_user, "")
    assert "<strong>priya</strong> took it from daniel" in response.text
    assert "<strong>priya</strong> assigned it to rosa until" in response.text
    # The previous holder is now the one refused.
    with pytest.raises(Exception, match="Claimed by rosa"):
        item.decide(reviewer, "accept_a")


def test_admin_cannot_assign_to_someone_who_is_not_a_reviewer(client_for, admin_user, analyst, item):
    client_for(admin_user).post(f"/review/items/{item.pk}/assign/", {"reviewer": analyst.username})
    item.refresh_from_db()
    assert item.status == ReviewItem.Status.OPEN
    assert not item.claims.exists()


def test_a_decided_item_cannot_be_claimed_or_reassigned(reviewer, second_reviewer, admin_user, item):
    item.decide(reviewer, "accept_a")
    assert not item.claim(second_reviewer)
    assert not item.reassign(second_reviewer, by=admin_user)
    assert item.status == ReviewItem.Status.RESOLVED


@pytest.mark.django_db(transaction=True)
def test_only_one_of_many_simultaneous_claims_wins():
    reviewers = [_reviewer(f"claimer{n}") for n in range(6)]
    item_id = make_run().review_items.get().pk
    start = threading.Barrier(len(reviewers))
    won = []

    def claim(user: User) -> None:
        try:
            target = ReviewItem.objects.get(pk=item_id)
            start.wait()
            if target.claim(user):
                won.append(user.username)
        finally:
            connection.close()

    _run_threads(claim, reviewers)
    assert len(won) == 1
    item = ReviewItem.objects.get(pk=item_id)
    assert item.claimed_by.username == won[0]
    assert [claim.user.username for claim in item.claims.all()] == won


# Deciding


def test_reviewer_cannot_decide_an_item_someone_else_holds(client_for, reviewer, second_reviewer, item):
    item.claim(reviewer)
    response = client_for(second_reviewer).post(f"/review/items/{item.pk}/decide/", {"choice": "stands"}, follow=True)
    assert "Claimed by daniel until" in response.text
    assert "Your decision was not recorded" in response.text
    assert not Decision.objects.exists()


def test_second_reviewer_is_told_item_was_decided(client_for, reviewer, second_reviewer, item):
    item.decide(reviewer, "accept_a", "Clear auto-renewal.")
    run_before = Run.objects.get(pk=item.run_id).result
    response = client_for(second_reviewer).post(
        f"/review/items/{item.pk}/decide/", {"choice": "not_issue", "note": "Disagree."}, follow=True
    )
    assert "Already decided by daniel at" in response.text
    assert "Your decision was not recorded" in response.text
    decision = Decision.objects.get()
    assert (decision.decided_by, decision.choice, decision.note) == (reviewer, "accept_a", "Clear auto-renewal.")
    assert Run.objects.get(pk=item.run_id).result == run_before


def test_overturning_the_judge_without_a_note_is_refused(client_for, reviewer, item):
    response = client_for(reviewer).post(f"/review/items/{item.pk}/decide/", {"choice": "not_issue", "note": "  "})
    assert response.status_code == 400
    assert "Say why in a note: this decision goes against the judge&#x27;s recommendation." in response.text
    assert not Decision.objects.exists()
    item.refresh_from_db()
    assert item.status == ReviewItem.Status.OPEN


def test_agreeing_with_the_judge_needs_no_note(client_for, reviewer, item):
    response = client_for(reviewer).post(f"/review/items/{item.pk}/decide/", {"choice": "stands"})
    assert response.status_code == 302
    decision = Decision.objects.get()
    assert (decision.choice, decision.is_issue, decision.overturned) == ("stands", True, False)


def test_overturning_is_recorded_on_the_decision(reviewer, item):
    decision = item.decide(reviewer, "not_issue", "Notice is given in clause 9.")
    assert (decision.is_issue, decision.overturned, decision.value) == (False, True, None)


def test_overturn_is_judged_by_outcome_not_by_label(item):
    # B did not flag it, so the judge siding with B recommends "not an issue".
    item.judge = {**item.judge, "recommendation": "accept_b", "is_issue": False}
    assert not item.overturns("not_issue")
    assert not item.overturns("accept_b")  # a choice recorded before the choices said what they mean
    assert item.overturns("stands")
    assert item.overturns("custom")


def test_on_an_audit_sample_only_agents_wrong_goes_against_them(reviewer):
    audit = make_run([liability_audit()]).review_items.get()
    assert [choice for choice, _ in audit.choices()] == ["agents_right", "agents_wrong"]
    assert not audit.overturns("agents_right")
    assert audit.overturns("agents_wrong")
    assert audit.outcome("agents_wrong") == (False, None)


def test_without_a_judge_only_not_an_issue_needs_a_note(db):
    item = make_run([partial_result()]).review_items.get()
    assert not item.overturns("stands")
    assert item.overturns("not_issue")


def test_editing_the_finding_stores_the_edited_value(client_for, reviewer, item):
    response = client_for(reviewer).post(
        f"/review/items/{item.pk}/decide/",
        {"choice": "custom", "title": "Renewal with a short notice window", "severity": "medium",
         "evidence": "renews automatically  for successive\none-year terms", "explanation": "60 days is short.",
         "note": "Not as bad as A says."},
    )  # fmt: skip
    assert response.status_code == 302
    decision = Decision.objects.get()
    assert decision.choice == Decision.Choice.CUSTOM
    assert decision.value == {
        "type": "auto_renewal",
        "title": "Renewal with a short notice window",
        "severity": "medium",
        "evidence": "renews automatically  for successive\none-year terms",
        "explanation": "60 days is short.",
    }
    assert (decision.is_issue, decision.overturned) == (True, True)
    settled = finding(item.run, "auto_renewal:1")
    assert (settled["title"], settled["severity"], settled["is_issue"]) == (
        "Renewal with a short notice window", "medium", True)  # fmt: skip
    assert settled["review"]["decision"]["choice"] == "custom"


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"title": "", "severity": "low"}, "An edited finding needs a title."),
        ({"title": "T", "severity": ""}, "Choose a severity."),
        ({"title": "T", "severity": "low", "evidence": "a sentence the contract never says"},
         "The evidence must be quoted exactly from the document"),
        ({"title": "T", "severity": "low", "note": ""}, "Say why in a note: an edited finding replaces"),
    ],
)  # fmt: skip
def test_an_edit_is_refused_when_it_is_incomplete_or_misquotes(client_for, reviewer, item, fields, error):
    data = {"choice": "custom", "note": "because", **fields}
    response = client_for(reviewer).post(f"/review/items/{item.pk}/decide/", data)
    assert response.status_code == 400
    assert error in response.text.replace("&#x27;", "'")
    assert not Decision.objects.exists()


def test_an_edit_may_leave_the_evidence_empty(reviewer, client_for, item):
    data = {"choice": "custom", "title": "T", "severity": "low", "evidence": "", "note": "Reworded."}
    assert client_for(reviewer).post(f"/review/items/{item.pk}/decide/", data).status_code == 302


def test_confirming_a_partial_result_keeps_it_as_an_issue(reviewer):
    run = make_run([partial_result()])
    decision = run.review_items.get().decide(reviewer, "confirm")
    assert (decision.is_issue, decision.value["title"]) == (True, "Partial result: financial missing")
    run.refresh_from_db()
    assert run.status == Run.Status.REVIEWED
    assert finding(run, "partial_result")["review"]["decision"]["choice"] == "confirm"


def test_time_spent_is_measured_from_the_signed_open_time(client_for, reviewer, item):
    opened = signing.dumps({"item": item.pk, "at": int(time.time()) - 3600}, salt=OPENED_SALT)
    client_for(reviewer).post(f"/review/items/{item.pk}/decide/", {"choice": "stands", "opened": opened})
    # The page was opened an hour ago (the item was never claimed, so nothing else could say so).
    assert Decision.objects.get().seconds_spent >= 3600


def test_time_spent_is_the_seconds_from_the_open_time_to_now(item):
    opened_at = int(time.time())
    opened = signing.dumps({"item": item.pk, "at": opened_at}, salt=OPENED_SALT)
    assert seconds_since_opened(opened, item, now=opened_at + 42) == 42


def test_a_forged_open_time_is_ignored(client_for, reviewer, item):
    forged = signing.dumps({"item": item.pk, "at": int(time.time()) - 42}, salt="someone-else")
    client_for(reviewer).post(f"/review/items/{item.pk}/decide/", {"choice": "stands", "opened": forged})
    assert Decision.objects.get().seconds_spent is None


def test_time_spent_falls_back_to_the_claim_time(reviewer, item):
    claimed = timezone.now()
    item.claim(reviewer, now=claimed)
    decision = item.decide(reviewer, "accept_a", now=claimed + timedelta(seconds=90))
    assert decision.seconds_spent == 90
    assert item.claims.get().end == Claim.End.DECIDED


def test_deciding_opens_the_next_item_claimed_for_the_reviewer(client_for, reviewer, second_reviewer):
    first = make_run(age=timedelta(minutes=3)).review_items.get()
    taken = make_run(age=timedelta(minutes=2)).review_items.get()
    taken.claim(second_reviewer)
    following = make_run(age=timedelta(minutes=1)).review_items.get()
    response = client_for(reviewer).post(f"/review/items/{first.pk}/decide/", {"choice": "stands"})
    assert response["Location"] == following.get_absolute_url()
    following.refresh_from_db()
    assert following.claimed_by == reviewer


def test_the_next_item_follows_the_reviewers_filter_and_sort(client_for, reviewer):
    older = make_run(age=timedelta(minutes=5)).review_items.get()
    audit = make_run([liability_audit()], age=timedelta(minutes=4)).review_items.get()
    current = make_run(age=timedelta(minutes=3)).review_items.get()
    newer = make_run(age=timedelta(minutes=2)).review_items.get()
    query = "reason=disagreement&sort=-age"
    response = client_for(reviewer).post(f"/review/items/{current.pk}/decide/?{query}", {"choice": "stands"})
    # Newest first, after the current one: the older disagreement, not the audit sample.
    assert response["Location"] == url_with(older, query)
    # At the end of the list it wraps round to what was skipped.
    response = client_for(reviewer).post(f"/review/items/{older.pk}/decide/?{query}", {"choice": "stands"})
    assert response["Location"] == url_with(newer, query)
    assert not ReviewItem.objects.filter(pk=audit.pk, claimed_by=reviewer).exists()


def test_deciding_the_last_item_returns_to_the_inbox(client_for, reviewer, item):
    response = client_for(reviewer).post(f"/review/items/{item.pk}/decide/", {"choice": "stands"}, follow=True)
    assert response.redirect_chain[-1][0] == "/review/"
    assert "the inbox is clear" in response.text


# Exactly one decision, whatever the concurrency (real PostgreSQL, real threads)


def _reviewer(username: str) -> User:
    user = User.objects.create_user(username)
    user.groups.add(Group.objects.get_or_create(name=REVIEWER)[0])
    return user


def _run_threads(target, users: list[User]) -> None:
    threads = [threading.Thread(target=target, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)


@pytest.mark.django_db(transaction=True)
def test_only_one_of_many_simultaneous_decisions_is_written():
    reviewers = [_reviewer(f"reviewer{n}") for n in range(8)]
    item_id = make_run().review_items.get().pk
    start = threading.Barrier(len(reviewers))
    outcomes = []

    def decide(user: User) -> None:
        try:
            target = ReviewItem.objects.get(pk=item_id)
            start.wait()
            choice = "accept_a" if int(user.username[-1]) % 2 else "accept_b"
            target.decide(user, choice, f"by {user.username}")
            outcomes.append(("decided", user.username))
        except AlreadyDecided as refused:
            outcomes.append(("already decided", refused.decision.decided_by.username))
        finally:
            connection.close()

    _run_threads(decide, reviewers)
    winners = [who for outcome, who in outcomes if outcome == "decided"]
    assert len(winners) == 1
    assert sorted(outcomes) == sorted([("decided", winners[0])] + [("already decided", winners[0])] * 7)
    decision = Decision.objects.get()
    assert decision.decided_by.username == winners[0]
    assert decision.note == f"by {winners[0]}"
    run = Run.objects.get(review_items__pk=item_id)
    assert run.status == Run.Status.REVIEWED
    assert finding(run, "auto_renewal:1")["review"]["decision"]["by"] == winners[0]


@pytest.mark.django_db(transaction=True)
def test_simultaneous_decisions_through_the_web_tell_the_losers_who_won():
    reviewers = [_reviewer(f"web{n}") for n in range(6)]
    item_id = make_run().review_items.get().pk
    start = threading.Barrier(len(reviewers))
    pages: dict[str, str] = {}

    def post(user: User) -> None:
        try:
            client = Client()
            client.force_login(user)
            start.wait()
            response = client.post(
                f"/review/items/{item_id}/decide/", {"choice": "not_issue", "note": user.username}, follow=True
            )
            pages[user.username] = response.content.decode()
        finally:
            connection.close()

    _run_threads(post, reviewers)
    decision = Decision.objects.get()
    winner = decision.decided_by.username
    assert decision.note == winner
    for username, page in pages.items():
        if username == winner:
            assert "Decided “Auto-renewal without notice period”" in page
        else:
            assert f"Already decided by {winner} at" in page, username
            assert "Your decision was not recorded" in page


@pytest.mark.django_db(transaction=True)
def test_deciding_a_runs_last_two_items_at_once_finalises_it_once_with_both():
    first, second = _reviewer("first"), _reviewer("second")
    run = make_run([renewal_disputed(), liability_audit()])
    items = {item.finding_type: item for item in run.review_items.all()}
    start = threading.Barrier(2)

    def decide(user: User) -> None:
        try:
            key = "auto_renewal" if user == first else "liability"
            start.wait()
            items[key].decide(user, "accept_a")
        finally:
            connection.close()

    _run_threads(decide, [first, second])
    run.refresh_from_db()
    assert run.status == Run.Status.REVIEWED
    assert finding(run, "auto_renewal:1")["review"]["decision"]["by"] == "first"
    assert finding(run, "liability:1")["review"]["decision"]["by"] == "second"


def test_the_database_refuses_a_second_first_decision(reviewer, second_reviewer, item):
    Decision.objects.create(item=item, decided_by=reviewer, choice="accept_a")
    with pytest.raises(IntegrityError), transaction.atomic():
        Decision.objects.create(item=item, decided_by=second_reviewer, choice="accept_b")


# The audit trail


def test_a_decision_cannot_be_edited_or_deleted_through_the_model(reviewer, item):
    decision = item.decide(reviewer, "accept_a", "Original note.")
    decision.note = "Rewritten."
    with pytest.raises(ValueError, match="append-only"):
        decision.save()
    with pytest.raises(ValueError, match="append-only"):
        decision.delete()
    assert Decision.objects.get().note == "Original note."


def test_the_database_refuses_to_change_or_delete_a_decision(reviewer, item):
    decision = item.decide(reviewer, "accept_a", "Original note.")
    for statement in (
        "UPDATE review_decision SET note = 'Rewritten.' WHERE id = %s",
        "UPDATE review_decision SET choice = 'not_issue', decided_by_id = decided_by_id WHERE id = %s",
        "DELETE FROM review_decision WHERE id = %s",
    ):
        with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [decision.pk])
    assert Decision.objects.filter(pk=decision.pk, note="Original note.", choice="accept_a").exists()


def test_an_item_with_a_decision_cannot_be_deleted(reviewer, item):
    item.decide(reviewer, "accept_a")
    with pytest.raises(ProtectedError):
        item.delete()
    with pytest.raises(ProtectedError):
        item.run.delete()


def test_decisions_are_read_only_in_admin(client_for, admin_user, reviewer, item):
    decision = item.decide(reviewer, "accept_a")
    client = client_for(admin_user)
    assert client.get(f"/admin/review/decision/{decision.pk}/change/").status_code == 200
    assert client.post(f"/admin/review/decision/{decision.pk}/change/", {"note": "edited"}).status_code == 403
    assert client.post(f"/admin/review/decision/{decision.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get(f"/admin/review/reviewitem/{item.pk}/change/").status_code == 200
    decision.refresh_from_db()
    assert decision.note == ""


def test_admin_release_action_ends_the_claims(client_for, admin_user, reviewer, item):
    item.claim(reviewer)
    client_for(admin_user).post(
        "/admin/review/reviewitem/", {"action": "release_claims", "_selected_action": [item.pk]}
    )
    item.refresh_from_db()
    assert item.status == ReviewItem.Status.OPEN
    assert (item.claims.get().end, item.claims.get().ended_by) == (Claim.End.RELEASED, admin_user)


def test_admin_supersedes_a_decision_with_a_reason_and_the_run_is_rebuilt(client_for, admin_user, reviewer, item):
    original = item.decide(reviewer, "accept_a", "Auto-renews.")
    client = client_for(admin_user)
    page = client.get(item.get_absolute_url()).text
    assert "Supersede this decision (admin)" in page
    response = client.post(
        f"/review/items/{item.pk}/supersede/",
        {"supersedes": original.pk, "choice": "not_issue", "note": "Clause 9 gives 90 days' notice."},
        follow=True,
    )
    assert "Superseded: Not an issue now stands." in response.text
    original.refresh_from_db()
    assert (original.choice, original.note) == ("accept_a", "Auto-renews.")  # untouched
    standing = item.current_decision()
    assert (standing.supersedes, standing.decided_by, standing.choice) == (original, admin_user, "not_issue")
    assert standing.note == "Clause 9 gives 90 days' notice."
    settled = finding(item.run, "auto_renewal:1")
    assert settled["is_issue"] is False
    assert settled["review"]["decision"] == {
        "choice": "not_issue", "by": "priya", "at": standing.created_at.isoformat(),
        "note": "Clause 9 gives 90 days' notice.",
    }  # fmt: skip
    assert "superseded the decision with Not an issue" in response.text
    assert "<strong>daniel</strong> decided Accept A" in response.text


def test_superseding_needs_a_reason(client_for, admin_user, reviewer, item):
    original = item.decide(reviewer, "accept_a")
    response = client_for(admin_user).post(
        f"/review/items/{item.pk}/supersede/", {"supersedes": original.pk, "choice": "not_issue", "note": " "}
    )
    assert response.status_code == 400
    assert Decision.objects.count() == 1


def test_superseding_a_decision_that_no_longer_stands_is_refused(admin_user, reviewer, item):
    original = item.decide(reviewer, "accept_a")
    item.supersede(admin_user, original, "accept_b", "First correction.")
    with pytest.raises(NotDecided):
        item.supersede(admin_user, original, "not_issue", "Stale correction.")
    assert item.current_decision().note == "First correction."


def test_a_superseded_edit_leaves_no_trace_in_the_rebuilt_finding(admin_user, reviewer, item):
    edited = item.decide(reviewer, "custom", "Reworded.", value={"title": "Edited title", "severity": "low",
                                                                 "evidence": "", "explanation": "x"})  # fmt: skip
    assert finding(item.run, "auto_renewal:1")["title"] == "Edited title"
    item.supersede(admin_user, edited, "not_issue", "Not an issue after all.")
    settled = finding(item.run, "auto_renewal:1")
    assert (settled["title"], settled["evidence"], settled["is_issue"]) == (
        "Auto-renewal without notice period", RENEWAL, False)  # fmt: skip


# Finalisation


def test_deciding_not_an_issue_on_the_last_item_finalises_the_run(client_for, reviewer, item):
    run = item.run
    item.claim(reviewer)
    response = client_for(reviewer).post(
        f"/review/items/{item.pk}/decide/", {"choice": "not_issue", "note": "Renewal needs 60 days' notice: fine."}
    )
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.status == ReviewItem.Status.RESOLVED
    run.refresh_from_db()
    assert run.status == Run.Status.REVIEWED
    settled = finding(run, "auto_renewal:1")
    assert settled["is_issue"] is False
    decision = settled["review"]["decision"]
    assert decision["choice"] == "not_issue"
    assert decision["by"] == "daniel"
    assert decision["note"] == "Renewal needs 60 days' notice: fine."
    assert decision["at"]
    assert settled["review"]["item_id"] == item.pk
    assert run.result["counts"] == {"agreed": 1, "disputed": 1, "issues": 1}


def test_run_waits_for_its_last_item_and_takes_the_edited_values(reviewer):
    run = make_run([renewal_disputed(), liability_audit(), payment_agreed()])
    renewal = run.review_items.get(finding_type="auto_renewal")
    liability = run.review_items.get(finding_type="liability")
    renewal.decide(reviewer, "stands")
    run.refresh_from_db()
    assert run.status == Run.Status.NEEDS_REVIEW
    assert finding(run, "auto_renewal:1")["review"]["decision"] is None

    edited = {"title": "Unlimited supplier liability", "severity": "high", "evidence": LIABILITY, "explanation": "B's."}
    liability.decide(reviewer, "custom", "B has the severity right.", value=edited)
    run.refresh_from_db()
    assert run.status == Run.Status.REVIEWED
    settled = finding(run, "liability:1")
    assert settled["is_issue"] is True
    assert settled["severity"] == "high"
    assert settled["title"] == "Unlimited supplier liability"
    assert settled["evidence"] == LIABILITY
    assert finding(run, "auto_renewal:1")["review"]["decision"]["choice"] == "stands"
    assert run.result["counts"]["issues"] == 3
    # Untouched by review: the finding both agreed on and nobody sampled.
    assert finding(run, "payment_terms:1")["review"] is None


def test_the_run_page_and_csv_say_who_decided(client_for, reviewer, analyst, item):
    item.decide(reviewer, "accept_a", "Auto-renews.")
    client = client_for(analyst)
    assert "decided by daniel" in client.get(item.run.get_absolute_url()).text
    csv = b"".join(client.get("/runs/export.csv").streaming_content).decode()
    assert "auto_renewal:1: accept_a by daniel" in csv
