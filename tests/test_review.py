"""The reviewer inbox: who may see and decide items, claims, decisions under
concurrency, and how decisions settle a Debate run's result."""

import hashlib
import threading
import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.core import signing
from django.db import connection
from django.utils import timezone

from config.roles import REVIEWER
from documents.models import Document
from orchestrator.models import Pipeline, Run
from review.forms import OPENED_SALT
from review.models import AlreadyDecided, Claim, Decision, ReviewItem
from review.routing import open_review_items
from tests.conftest import PASSWORD

RENEWAL = "This agreement renews automatically for successive one-year terms."
LIABILITY = "The supplier's liability is unlimited for all claims."
PAYMENT = "Payment is due within 90 days of invoice."
CONTRACT = f"SUPPLY AGREEMENT\n\n1. {RENEWAL}\n2. {LIABILITY}\n3. {PAYMENT}\n"


def _position(kind: str, title: str, evidence: str, severity: str = "high") -> dict:
    return {
        "key": f"{kind}:1",
        "type": kind,
        "title": title,
        "severity": severity,
        "evidence": evidence,
        "explanation": f"{title} ({severity}).",
    }


def renewal_disputed() -> dict:
    """A flagged the auto-renewal, B did not; the judge sides with A."""
    a = _position("auto_renewal", "Auto-renewal without notice period", RENEWAL)
    return {
        **a,
        "status": "disputed",
        "flagged_by": ["a"],
        "a": a,
        "b": None,
        "judge": {
            "key": "auto_renewal:1",
            "is_issue": True,
            "recommendation": "accept_a",
            "confidence": 0.8,
            "criteria": ["auto-renewal-notice", "evidence-quoted"],
            "rationale": "The clause renews with no notice period.",
        },
        "is_issue": True,
        "review": {"reason": "disagreement", "decision": None},
    }


def liability_audit() -> dict:
    """Both flagged unlimited liability (so no judge); sampled for audit."""
    a = _position("liability", "Unlimited liability", LIABILITY, severity="medium")
    b = _position("liability", "Unlimited supplier liability", LIABILITY, severity="high")
    return {
        **a,
        "status": "agreed",
        "flagged_by": ["a", "b"],
        "a": a,
        "b": b,
        "judge": None,
        "is_issue": True,
        "review": {"reason": "audit_sample", "decision": None},
    }


def payment_agreed() -> dict:
    a = _position("payment_terms", "Long payment terms", PAYMENT, severity="low")
    return {**a, "status": "agreed", "flagged_by": ["a", "b"], "a": a, "b": a, "judge": None, "is_issue": True,
            "review": None}  # fmt: skip


def make_run(findings: list[dict] | None = None, text: str = CONTRACT, pipeline_slug: str = "contract-debate") -> Run:
    """A finished Debate run as the engine leaves it, with its review items filed."""
    findings = findings if findings is not None else [renewal_disputed(), payment_agreed()]
    document = Document.objects.create(
        file="documents/contract.txt",
        original_name="supplier-contract.txt",
        sha256=hashlib.sha256(f"{text}{time.monotonic_ns()}".encode()).hexdigest(),
        kind=Document.Kind.TEXT,
        size=len(text),
        text=text,
    )
    pipeline, _ = Pipeline.objects.get_or_create(
        slug=pipeline_slug, defaults={"name": f"Contract review ({pipeline_slug})", "pattern": "debate"}
    )
    counts = {
        "agreed": sum(f["status"] == "agreed" for f in findings),
        "disputed": sum(f["status"] == "disputed" for f in findings),
        "issues": sum(f["is_issue"] for f in findings),
    }
    run = Run.objects.create(
        document=document,
        pipeline=pipeline,
        status=Run.Status.NEEDS_REVIEW,
        result={"pattern": "debate", "stand_in": True, "findings": findings, "counts": counts},
    )
    open_review_items(run)
    return run


def finding(run: Run, key: str) -> dict:
    run.refresh_from_db()
    return next(f for f in run.result["findings"] if f["key"] == key)


@pytest.fixture
def item(db) -> ReviewItem:
    return make_run().review_items.get()


def _screenshot(page, settings, name: str) -> None:
    folder = settings.VAR_DIR / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=folder / f"{name}.png", full_page=True)


def urls(item: ReviewItem) -> list[tuple[str, str]]:
    return [
        ("get", "/review/"),
        ("get", f"/review/items/{item.pk}/"),
        ("post", f"/review/items/{item.pk}/claim/"),
        ("post", f"/review/items/{item.pk}/release/"),
        ("post", f"/review/items/{item.pk}/decide/"),
    ]


# Who may do what


def test_outsider_is_refused_on_every_review_url(client_for, outsider, item):
    client = client_for(outsider)
    for method, url in urls(item):
        response = getattr(client, method)(url, {"choice": "accept_a"} if method == "post" else None)
        assert response.status_code == 403, url


def test_anonymous_visitor_is_sent_to_login(client, item):
    response = client.get(f"/review/items/{item.pk}/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_analyst_can_read_the_inbox_and_an_item(client_for, analyst, item):
    client = client_for(analyst)
    inbox = client.get("/review/")
    assert inbox.status_code == 200
    assert item.title in inbox.text
    page = client.get(f"/review/items/{item.pk}/")
    assert page.status_code == 200
    assert 'id="decision-form"' not in page.text
    assert "Deciding needs the reviewer role" in page.text


def test_analyst_cannot_claim_release_or_decide(client_for, analyst, item):
    client = client_for(analyst)
    for _, url in urls(item)[2:]:
        assert client.post(url, {"choice": "accept_a"}).status_code == 403, url
    item.refresh_from_db()
    assert item.status == ReviewItem.Status.OPEN
    assert not Decision.objects.exists()


def test_claim_and_decide_refuse_get(client_for, reviewer, item):
    client = client_for(reviewer)
    assert client.get(f"/review/items/{item.pk}/claim/").status_code == 405
    assert client.get(f"/review/items/{item.pk}/decide/").status_code == 405


# Claims


def test_reviewer_claims_an_item(client_for, reviewer, item, settings):
    settings.QUORUM_CLAIM_MINUTES = 30
    response = client_for(reviewer).post(f"/review/items/{item.pk}/claim/", follow=True)
    item.refresh_from_db()
    assert item.status == ReviewItem.Status.CLAIMED
    assert item.claimed_by == reviewer
    remaining = item.claim_expires_at - timezone.now()
    assert timedelta(minutes=29) < remaining <= timedelta(minutes=30)
    assert "Claimed by you until" in response.text
    assert Claim.objects.get(item=item).user == reviewer


def test_second_reviewer_cannot_claim_a_claimed_item(client_for, reviewer, second_reviewer, item):
    assert item.claim(reviewer)
    response = client_for(second_reviewer).post(f"/review/items/{item.pk}/claim/", follow=True)
    item.refresh_from_db()
    assert item.claimed_by == reviewer
    assert "Claimed by daniel until" in response.text


def test_expired_claim_can_be_taken(reviewer, second_reviewer, item):
    assert item.claim(reviewer)
    ReviewItem.objects.filter(pk=item.pk).update(claim_expires_at=timezone.now() - timedelta(seconds=1))
    assert item.claim(second_reviewer)
    assert item.claimed_by == second_reviewer
    assert [claim.user for claim in item.claims.all()] == [reviewer, second_reviewer]


def test_reviewer_releases_their_claim(client_for, reviewer, item):
    item.claim(reviewer)
    response = client_for(reviewer).post(f"/review/items/{item.pk}/release/")
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.status == ReviewItem.Status.OPEN
    assert item.claimed_by is None
    assert item.claims.get().released_at is not None


def test_reviewer_cannot_release_someone_elses_claim(reviewer, second_reviewer, item):
    item.claim(reviewer)
    assert not item.release(second_reviewer)
    assert item.claimed_by == reviewer


def test_reviewer_cannot_decide_an_item_someone_else_holds(client_for, reviewer, second_reviewer, item):
    item.claim(reviewer)
    response = client_for(second_reviewer).post(f"/review/items/{item.pk}/decide/", {"choice": "accept_a"}, follow=True)
    assert "Claimed by daniel until" in response.text
    assert not Decision.objects.exists()


# Deciding


def test_deciding_accept_b_on_the_last_item_finalises_the_run(client_for, reviewer, item):
    run = item.run
    item.claim(reviewer)
    response = client_for(reviewer).post(
        f"/review/items/{item.pk}/decide/", {"choice": "accept_b", "note": "Renewal needs 60 days' notice: fine."}
    )
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.status == ReviewItem.Status.RESOLVED
    run.refresh_from_db()
    assert run.status == Run.Status.REVIEWED
    settled = finding(run, "auto_renewal:1")
    assert settled["is_issue"] is False
    decision = settled["review"]["decision"]
    assert decision["choice"] == "accept_b"
    assert decision["by"] == "daniel"
    assert decision["note"] == "Renewal needs 60 days' notice: fine."
    assert decision["at"]
    assert settled["review"]["item_id"] == item.pk
    assert run.result["counts"] == {"agreed": 1, "disputed": 1, "issues": 1}


def test_run_waits_for_its_last_item_and_takes_the_accepted_advocates_values(reviewer):
    run = make_run([renewal_disputed(), liability_audit(), payment_agreed()])
    renewal = run.review_items.get(finding_key="auto_renewal:1")
    liability = run.review_items.get(finding_key="liability:1")
    renewal.decide(reviewer, "accept_a")
    run.refresh_from_db()
    assert run.status == Run.Status.NEEDS_REVIEW
    assert finding(run, "auto_renewal:1")["review"]["decision"] is None

    liability.decide(reviewer, "accept_b")
    run.refresh_from_db()
    assert run.status == Run.Status.REVIEWED
    settled = finding(run, "liability:1")
    assert settled["is_issue"] is True
    assert settled["severity"] == "high"
    assert settled["title"] == "Unlimited supplier liability"
    assert finding(run, "auto_renewal:1")["review"]["decision"]["choice"] == "accept_a"
    assert run.result["counts"]["issues"] == 3


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
    assert "Say why in a note" in response.text
    assert not Decision.objects.exists()
    item.refresh_from_db()
    assert item.status == ReviewItem.Status.OPEN


def test_agreeing_with_the_judge_needs_no_note(client_for, reviewer, item):
    response = client_for(reviewer).post(f"/review/items/{item.pk}/decide/", {"choice": "accept_a"})
    assert response.status_code == 302
    assert Decision.objects.get().choice == "accept_a"


def test_overturn_is_judged_by_outcome_not_by_label(item):
    # B did not flag it, so accepting B and "not an issue" settle it alike.
    item.judge = {**item.judge, "recommendation": "accept_b"}
    assert not item.overturns("not_issue")
    assert not item.overturns("accept_b")
    assert item.overturns("accept_a")


def test_marking_an_audit_sample_not_an_issue_needs_a_note(reviewer):
    audit = make_run([liability_audit()]).review_items.get()
    assert audit.overturns("not_issue")
    assert not audit.overturns("accept_a")
    assert not audit.overturns("accept_b")


def test_time_spent_is_measured_from_the_signed_open_time(client_for, reviewer, item):
    opened = signing.dumps({"item": item.pk, "at": int(time.time()) - 42}, salt=OPENED_SALT)
    client_for(reviewer).post(f"/review/items/{item.pk}/decide/", {"choice": "accept_a", "opened": opened})
    assert 42 <= Decision.objects.get().seconds_spent < 50


def test_a_forged_open_time_is_ignored(client_for, reviewer, item):
    forged = signing.dumps({"item": item.pk, "at": int(time.time()) - 42}, salt="someone-else")
    client_for(reviewer).post(f"/review/items/{item.pk}/decide/", {"choice": "accept_a", "opened": forged})
    assert Decision.objects.get().seconds_spent is None


def test_deciding_opens_the_next_item_claimed_for_the_reviewer(client_for, reviewer, second_reviewer):
    first = make_run().review_items.get()
    taken = make_run().review_items.get()
    taken.claim(second_reviewer)
    following = make_run().review_items.get()
    response = client_for(reviewer).post(f"/review/items/{first.pk}/decide/", {"choice": "accept_a"})
    assert response["Location"] == following.get_absolute_url()
    following.refresh_from_db()
    assert following.claimed_by == reviewer


def test_deciding_the_last_item_returns_to_the_inbox(client_for, reviewer, item):
    response = client_for(reviewer).post(f"/review/items/{item.pk}/decide/", {"choice": "accept_a"}, follow=True)
    assert response.redirect_chain[-1][0] == "/review/"
    assert "the inbox is clear" in response.text


@pytest.mark.django_db(transaction=True)
def test_only_one_of_many_simultaneous_decisions_is_written():
    reviewers = []
    for number in range(6):
        user = User.objects.create_user(f"reviewer{number}")
        user.groups.add(Group.objects.get_or_create(name=REVIEWER)[0])
        reviewers.append(user)
    item_id = make_run().review_items.get().pk
    start = threading.Barrier(len(reviewers))
    outcomes = []

    def decide(user: User) -> None:
        try:
            target = ReviewItem.objects.get(pk=item_id)
            start.wait()
            target.decide(user, "accept_a", f"by {user.username}")
            outcomes.append(("decided", user.username))
        except AlreadyDecided as refused:
            outcomes.append(("already decided", refused.decision.decided_by.username))
        finally:
            connection.close()

    threads = [threading.Thread(target=decide, args=(user,)) for user in reviewers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    winners = [who for outcome, who in outcomes if outcome == "decided"]
    assert len(winners) == 1
    assert sorted(outcomes) == sorted([("decided", winners[0])] + [("already decided", winners[0])] * 5)
    decision = Decision.objects.get()
    assert decision.decided_by.username == winners[0]
    run = Run.objects.get(review_items__pk=item_id)
    assert run.status == Run.Status.REVIEWED
    assert finding(run, "auto_renewal:1")["review"]["decision"]["by"] == winners[0]


# The item page


def test_evidence_is_highlighted_and_document_text_escaped(client_for, reviewer):
    text = f"<script>alert(1)</script>\n{RENEWAL}\n{LIABILITY}\n"
    run = make_run([renewal_disputed(), liability_audit()], text=text)
    item = run.review_items.get(finding_key="liability:1")
    page = client_for(reviewer).get(f"/review/items/{item.pk}/").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)" not in page
    assert "<mark>The supplier&#x27;s liability is unlimited for all claims.</mark>" in page
    # Only this item's evidence is marked.
    assert f"<mark>{RENEWAL}</mark>" not in page


def test_evidence_split_across_lines_is_still_highlighted(client_for, reviewer):
    run = make_run(text="Terms.\nThis agreement renews automatically\nfor successive one-year terms.\n")
    item = run.review_items.get()
    page = client_for(reviewer).get(f"/review/items/{item.pk}/").text
    assert "<mark>This agreement renews automatically\nfor successive one-year terms.</mark>" in page


def test_model_text_is_escaped_on_the_item_page(client_for, reviewer):
    hostile = renewal_disputed()
    hostile["a"] = {**hostile["a"], "explanation": "<img src=x onerror=alert(1)>"}
    hostile["judge"] = {**hostile["judge"], "rationale": "<b>trust me</b>"}
    item = make_run([hostile]).review_items.get()
    page = client_for(reviewer).get(f"/review/items/{item.pk}/").text
    assert "<img src=x" not in page
    assert "&lt;b&gt;trust me&lt;/b&gt;" in page


def test_item_page_shows_both_positions_and_the_judges_advice(client_for, reviewer, item):
    page = client_for(reviewer).get(f"/review/items/{item.pk}/").text
    assert "A flagged: Auto-renewal without notice period" in page
    assert "B did not flag this" in page
    assert f"<blockquote>{RENEWAL}</blockquote>" in page
    assert "Accept A" in page and "80% confidence" in page
    assert "auto-renewal-notice" in page and "evidence-quoted" in page
    assert "The clause renews with no notice period." in page
    assert "<kbd>a</kbd>" in page
    assert "js/review.js" in page


def test_item_page_labels_stand_in_findings(client_for, reviewer, item):
    page = client_for(reviewer).get(f"/review/items/{item.pk}/").text
    assert "Findings by the offline rule-based stand-in, not a language model" in page


def test_item_page_without_stand_in_has_no_label(client_for, reviewer, item):
    Run.objects.filter(pk=item.run_id).update(result={**item.run.result, "stand_in": False})
    page = client_for(reviewer).get(f"/review/items/{item.pk}/").text
    assert "rule-based stand-in" not in page


def test_item_page_lists_claims_and_decisions(client_for, reviewer, second_reviewer, item):
    item.claim(reviewer)
    item.release(reviewer)
    item.claim(second_reviewer)
    item.decide(second_reviewer, "accept_a", "Plainly auto-renewing.", seconds_spent=12)
    page = client_for(reviewer).get(f"/review/items/{item.pk}/").text
    assert page.count("claimed it until") == 2
    assert "released it" in page
    assert "decided: Accept A after 12 s" in page
    assert "Plainly auto-renewing." in page


# The inbox


def test_inbox_lists_open_and_claimed_items_but_not_resolved_ones(client_for, reviewer):
    open_item = make_run().review_items.get()
    claimed = make_run([liability_audit()]).review_items.get()
    claimed.claim(reviewer)
    resolved = make_run().review_items.get()
    resolved.decide(reviewer, "accept_a")
    page = client_for(reviewer).get("/review/").text
    assert open_item.get_absolute_url() in page
    assert claimed.get_absolute_url() in page
    assert resolved.get_absolute_url() not in page
    assert "Disagreement: 1" in page and "Audit sample: 1" in page
    assert "80%" in page


def test_inbox_filters_by_reason_pipeline_and_claim(client_for, reviewer, second_reviewer):
    renewal = make_run().review_items.get()
    audit = make_run([liability_audit()], pipeline_slug="other-debate").review_items.get()
    mine = make_run().review_items.get()
    mine.claim(reviewer)
    theirs = make_run().review_items.get()
    theirs.claim(second_reviewer)
    client = client_for(reviewer)

    def listed(query: str) -> set[int]:
        page = client.get(f"/review/?{query}").text
        return {item.pk for item in (renewal, audit, mine, theirs) if item.get_absolute_url() in page}

    assert listed("reason=audit_sample") == {audit.pk}
    assert listed("pipeline=other-debate") == {audit.pk}
    assert listed("claimed=me") == {mine.pk}
    assert listed("claimed=unclaimed") == {renewal.pk, audit.pk}
    assert listed("reason=disagreement&claimed=unclaimed") == {renewal.pk}


def test_inbox_sorts_and_paginates(client_for, reviewer):
    items = [make_run().review_items.get() for _ in range(27)]
    client = client_for(reviewer)
    first_page = client.get("/review/").text
    assert items[0].get_absolute_url() in first_page
    assert items[26].get_absolute_url() not in first_page
    newest_first = client.get("/review/?sort=-age").text
    assert items[26].get_absolute_url() in newest_first
    assert items[0].get_absolute_url() not in newest_first
    assert items[26].get_absolute_url() in client.get("/review/?page=2").text


def test_inbox_polls_and_htmx_gets_only_the_table(client_for, reviewer, item):
    client = client_for(reviewer)
    page = client.get("/review/?reason=disagreement").text
    assert 'hx-get="/review/?reason=disagreement"' in page
    assert 'hx-trigger="every 10s"' in page
    partial = client.get("/review/?reason=disagreement", headers={"HX-Request": "true"}).text
    assert 'id="inbox-table"' in partial
    assert item.get_absolute_url() in partial
    assert "<html" not in partial
    assert 'method="get"' not in partial


# Admin


def test_decisions_are_read_only_in_admin(client_for, admin_user, reviewer, item):
    decision = item.decide(reviewer, "accept_a")
    client = client_for(admin_user)
    assert client.get(f"/admin/review/decision/{decision.pk}/change/").status_code == 200
    assert client.post(f"/admin/review/decision/{decision.pk}/change/", {"note": "edited"}).status_code == 403
    assert client.post(f"/admin/review/decision/{decision.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get(f"/admin/review/reviewitem/{item.pk}/change/").status_code == 200
    decision.refresh_from_db()
    assert decision.note == ""


# In the browser


@pytest.mark.browser
def test_reviewer_decides_from_the_keyboard_and_the_next_item_opens(live_server, page, reviewer, settings):
    first = make_run([renewal_disputed(), liability_audit()]).review_items.get(finding_key="auto_renewal:1")
    following = first.run.review_items.get(finding_key="liability:1")
    page.goto(f"{live_server.url}/accounts/login/?next=/review/")
    page.fill("input[name=username]", reviewer.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/review/")
    _screenshot(page, settings, "review-inbox")

    page.click(f"a[href='{first.get_absolute_url()}']")
    page.wait_for_url(f"**{first.get_absolute_url()}")
    # The first highlighted sentence is scrolled into view inside the document box.
    page.wait_for_function(
        "() => { const m = document.querySelector('.doctext mark'); "
        "const box = m.closest('.doctext').getBoundingClientRect(); "
        "const r = m.getBoundingClientRect(); return r.top >= box.top && r.bottom <= box.bottom; }"
    )
    _screenshot(page, settings, "review-item")
    page.keyboard.press("b")
    assert page.is_checked("input[name=choice][value=accept_b]")
    page.keyboard.type("Ninety days' notice is given: not an issue.")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**{following.get_absolute_url()}")

    decision = Decision.objects.get(item=first)
    assert (decision.choice, decision.decided_by) == ("accept_b", reviewer)
    assert decision.note == "Ninety days' notice is given: not an issue."
    assert decision.seconds_spent is not None
    assert page.locator(".messages").inner_text().startswith("Decided")


def test_inbox_with_an_unknown_filter_shows_the_error_not_everything(client_for, reviewer, item):
    page = client_for(reviewer).get("/review/?pipeline=no-such-pipeline").text
    assert "Select a valid choice" in page
    assert item.get_absolute_url() not in page


def test_time_spent_falls_back_to_the_claim_time(reviewer, item):
    item.claim(reviewer)
    Claim.objects.filter(item=item).update(claimed_at=timezone.now() - timedelta(seconds=90))
    decision = item.decide(reviewer, "accept_a")
    assert 90 <= decision.seconds_spent < 100
