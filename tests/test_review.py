"""The reviewer inbox and item pages: who may see what, the filters, sorting and
counts, the live refresh, and what an item page shows. The builders here are
shared by the other test_review_* modules."""

import hashlib
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from documents.models import Document
from orchestrator.models import Agent, Pipeline, Prompt, Rubric, RubricVersion, Run, Step
from review.models import Decision, ReviewItem
from review.routing import open_review_items

RENEWAL = "This agreement renews automatically for successive one-year terms."
LIABILITY = "The supplier's liability is unlimited for all claims."
PAYMENT = "Payment is due within 90 days of invoice."
CONTRACT = f"SUPPLY AGREEMENT\n\n1. {RENEWAL}\n2. {LIABILITY}\n3. {PAYMENT}\n"


def position(kind: str, title: str, evidence: str, severity: str = "high") -> dict:
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
    a = position("auto_renewal", "Auto-renewal without notice period", RENEWAL)
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
        "review": {"reason": "disagreement", "item_id": None, "decision": None},
    }


def liability_audit() -> dict:
    """Both flagged unlimited liability; sampled for audit. The judge passes agreed findings through."""
    a = position("liability", "Unlimited liability", LIABILITY, severity="medium")
    b = position("liability", "Unlimited supplier liability", LIABILITY, severity="high")
    judge = {"key": "liability:1", "is_issue": True, "recommendation": "accept_a", "confidence": 0.95,
             "criteria": [], "rationale": "Both advocates flagged it; it stands."}  # fmt: skip
    return {**a, "status": "agreed", "flagged_by": ["a", "b"], "a": a, "b": b, "judge": judge, "is_issue": True,
            "review": {"reason": "audit_sample", "item_id": None, "decision": None}}  # fmt: skip


def payment_agreed() -> dict:
    a = position("payment_terms", "Long payment terms", PAYMENT, severity="low")
    return {**a, "status": "agreed", "flagged_by": ["a", "b"], "a": a, "b": a, "judge": None, "is_issue": True,
            "review": None}  # fmt: skip


def partial_result() -> dict:
    """What the Supervisor pattern files when a specialist failed: no advocates, no judge."""
    return {"key": "partial_result", "type": "partial_result", "title": "Partial result: financial missing",
            "severity": "high", "evidence": "", "explanation": "The financial specialist failed.",
            "status": "partial", "is_issue": True, "a": None, "b": None, "judge": None,
            "review": {"reason": "partial_result", "item_id": None, "decision": None}}  # fmt: skip


def make_run(
    findings: list[dict] | None = None,
    text: str = CONTRACT,
    pipeline_slug: str = "contract-debate",
    doc_type: str = "",
    age: timedelta | None = None,
) -> Run:
    """A finished run as the engine leaves it, with its review items filed."""
    findings = findings if findings is not None else [renewal_disputed(), payment_agreed()]
    document = Document.objects.create(
        file="documents/contract.txt",
        original_name="supplier-contract.txt",
        sha256=hashlib.sha256(f"{text}{time.monotonic_ns()}".encode()).hexdigest(),
        kind=Document.Kind.TEXT,
        size=len(text),
        text=text,
        doc_type=doc_type,
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
    if age is not None:
        run.review_items.update(created_at=timezone.now() - age)
    return run


def finding(run: Run, key: str) -> dict:
    run.refresh_from_db()
    return next(f for f in run.result["findings"] if f["key"] == key)


def url_with(item: ReviewItem, query: str = "") -> str:
    return item.get_absolute_url() + (f"?{query}" if query else "")


@pytest.fixture
def item(db) -> ReviewItem:
    return make_run().review_items.get()


URLS = [
    ("get", "/review/"),
    ("get", "/review/metrics/"),
    ("get", "/review/items/{pk}/"),
    ("post", "/review/items/{pk}/claim/"),
    ("post", "/review/items/{pk}/release/"),
    ("post", "/review/items/{pk}/assign/"),
    ("post", "/review/items/{pk}/decide/"),
    ("post", "/review/items/{pk}/supersede/"),
]
DECIDING = [url for method, url in URLS if method == "post"]


# Who may do what


@pytest.mark.parametrize(("method", "url"), URLS)
def test_outsider_is_refused_on_every_review_url(client_for, outsider, item, method, url):
    response = getattr(client_for(outsider), method)(url.format(pk=item.pk), {"choice": "accept_a"})
    assert response.status_code == 403
    assert item.title not in response.text


@pytest.mark.parametrize(("method", "url"), URLS)
def test_anonymous_visitor_is_sent_to_login_from_every_review_url(client, item, method, url):
    response = getattr(client, method)(url.format(pk=item.pk))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("url", DECIDING)
def test_analyst_cannot_claim_release_assign_decide_or_supersede(client_for, analyst, item, url):
    response = client_for(analyst).post(url.format(pk=item.pk), {"choice": "accept_a", "note": "x"})
    assert response.status_code == 403
    item.refresh_from_db()
    assert item.status == ReviewItem.Status.OPEN
    assert not Decision.objects.exists()
    assert not item.claims.exists()


@pytest.mark.parametrize("url", ["/review/items/{pk}/assign/", "/review/items/{pk}/supersede/"])
def test_reviewer_cannot_assign_or_supersede(client_for, reviewer, second_reviewer, item, url):
    response = client_for(reviewer).post(url.format(pk=item.pk), {"reviewer": "rosa", "choice": "accept_a"})
    assert response.status_code == 403
    assert not item.claims.exists()


def test_analyst_can_read_the_inbox_and_an_item_but_not_the_metrics(client_for, analyst, item):
    client = client_for(analyst)
    inbox = client.get("/review/")
    assert inbox.status_code == 200
    assert item.title in inbox.text
    page = client.get(f"/review/items/{item.pk}/")
    assert page.status_code == 200
    assert 'id="decision-form"' not in page.text
    assert "Deciding needs the reviewer role" in page.text
    assert client.get("/review/metrics/").status_code == 403


def test_claim_and_decide_refuse_get(client_for, reviewer, item):
    client = client_for(reviewer)
    for url in DECIDING:
        assert client.get(url.format(pk=item.pk)).status_code == 405, url


def test_an_unknown_item_is_not_found(client_for, reviewer, db):
    assert client_for(reviewer).get("/review/items/999999/").status_code == 404


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
    assert "Disagreement: 1" in page and "Audit sample: 1" in page and "All: 2" in page
    assert "80%" in page


def test_inbox_filters_by_reason_pipeline_document_type_and_claim(client_for, reviewer, second_reviewer):
    renewal = make_run(doc_type="contract").review_items.get()
    audit = make_run([liability_audit()], pipeline_slug="other-debate", doc_type="invoice").review_items.get()
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
    assert listed("doc_type=contract") == {renewal.pk}
    assert listed("doc_type=invoice") == {audit.pk}
    assert listed("claimed=me") == {mine.pk}
    assert listed("claimed=unclaimed") == {renewal.pk, audit.pk}
    assert listed("claimed=available") == {renewal.pk, audit.pk, mine.pk}
    assert listed("reason=disagreement&claimed=unclaimed") == {renewal.pk}


def test_document_type_filter_offers_the_types_present(client_for, reviewer):
    make_run(doc_type="contract")
    make_run(doc_type="invoice")
    make_run()
    page = client_for(reviewer).get("/review/").text
    assert '<option value="contract">contract</option>' in page
    assert '<option value="invoice">invoice</option>' in page


def test_inbox_filters_by_age(client_for, reviewer, settings):
    settings.QUORUM_REVIEW_SLA_HOURS = 24
    fresh = make_run().review_items.get()
    waiting = make_run(age=timedelta(hours=5)).review_items.get()
    overdue = make_run(age=timedelta(hours=30)).review_items.get()
    client = client_for(reviewer)

    def listed(query: str) -> set[int]:
        page = client.get(f"/review/?{query}").text
        return {item.pk for item in (fresh, waiting, overdue) if item.get_absolute_url() in page}

    assert listed("age=new") == {fresh.pk}
    assert listed("age=waiting") == {fresh.pk, waiting.pk}
    assert listed("age=overdue") == {overdue.pk}


def test_items_past_the_sla_are_marked_and_counted(client_for, reviewer, settings):
    settings.QUORUM_REVIEW_SLA_HOURS = 4
    make_run(age=timedelta(hours=1))
    late = make_run(age=timedelta(hours=5)).review_items.get()
    page = client_for(reviewer).get("/review/").text
    assert f'<tr data-item="{late.pk}" class="overdue ' in page
    assert page.count('class="overdue ') == 1
    assert "1 overdue (over 4 h)" in page
    assert "overdue</span>" in page


def test_overdue_first_puts_late_items_above_any_sort(client_for, reviewer, settings):
    settings.QUORUM_REVIEW_SLA_HOURS = 24
    late = make_run(pipeline_slug="zz-late", age=timedelta(hours=30)).review_items.get()
    early = make_run(pipeline_slug="aa-early").review_items.get()
    client = client_for(reviewer)

    def listed(query: str) -> list[int]:
        page = client.get(f"/review/?{query}").text
        return sorted((early.pk, late.pk), key=lambda pk: page.index(f'href="/review/items/{pk}/?'))

    assert listed("sort=pipeline") == [early.pk, late.pk]
    assert listed("sort=pipeline&overdue_first=on") == [late.pk, early.pk]
    assert listed("sort=-pipeline&overdue_first=on") == [late.pk, early.pk]


def test_inbox_sorts_and_paginates(client_for, reviewer):
    items = [make_run(age=timedelta(minutes=60 - n)).review_items.get() for n in range(27)]
    client = client_for(reviewer)
    first_page = client.get("/review/").text
    assert items[0].get_absolute_url() in first_page
    assert items[26].get_absolute_url() not in first_page
    newest_first = client.get("/review/?sort=-age").text
    assert url_with(items[26], "sort=-age") in newest_first
    assert items[0].get_absolute_url() not in newest_first
    assert items[26].get_absolute_url() in client.get("/review/?page=2").text


def test_items_created_at_the_same_moment_keep_their_places_across_pages(client_for, reviewer):
    runs = [make_run() for _ in range(30)]
    ReviewItem.objects.update(created_at=timezone.now() - timedelta(hours=1))
    client = client_for(reviewer)
    pages = client.get("/review/").text + client.get("/review/?page=2").text
    for run in runs:
        assert pages.count(run.review_items.get().get_absolute_url() + '"') == 1


def test_a_page_past_the_end_shows_the_last_page(client_for, reviewer, item):
    response = client_for(reviewer).get("/review/?page=9")
    assert response.status_code == 200
    assert item.get_absolute_url() in response.text


def test_inbox_polls_and_htmx_gets_only_the_table(client_for, reviewer, item):
    client = client_for(reviewer)
    page = client.get("/review/?reason=disagreement&page=1").text
    assert 'hx-get="/review/?reason=disagreement&amp;page=1"' in page
    # Only while the tab is visible (quorum.js; a trigger filter would need eval, which the CSP forbids).
    assert 'hx-trigger="every 10s" data-poll-when-visible' in page
    partial = client.get("/review/?reason=disagreement&page=1", headers={"HX-Request": "true"}).text
    assert partial.lstrip().startswith('<div id="inbox-table"')
    assert url_with(item, "reason=disagreement") in partial
    assert "Disagreement: 1" in partial
    assert "<html" not in partial
    assert 'method="get"' not in partial


def test_item_links_carry_the_filters_and_sort_but_not_the_page(client_for, reviewer, item):
    page = client_for(reviewer).get("/review/?reason=disagreement&sort=-age&page=1").text
    assert f'href="{item.get_absolute_url()}?reason=disagreement&amp;sort=-age"' in page


def test_inbox_with_an_unknown_filter_shows_the_error_not_everything(client_for, reviewer, item):
    page = client_for(reviewer).get("/review/?pipeline=no-such-pipeline").text
    assert "Select a valid choice" in page
    assert item.get_absolute_url() not in page


def test_inbox_queries_stay_few_and_never_read_document_text(client_for, reviewer):
    for _ in range(30):
        make_run([renewal_disputed(), liability_audit()])
    client = client_for(reviewer)
    client.get("/review/")  # session and user caches warm
    with CaptureQueriesContext(connection) as full:
        client.get("/review/")
    with CaptureQueriesContext(connection) as partial:
        client.get("/review/", headers={"HX-Request": "true"})
    sql = [query["sql"] for query in full.captured_queries]
    # session, user, groups, counts per reason, the page's ids, its rows, the rows' linked runs,
    # document types, pipelines
    assert len(sql) <= 9, sql
    assert len(partial.captured_queries) <= 7
    assert not any('"documents_document"."text"' in statement for statement in sql)
    assert sum("COUNT(" in statement.upper() for statement in sql) == 1, "the page count reuses the reason counts"


# The item page


def test_item_page_shows_both_positions_and_the_judges_advice(client_for, reviewer, item):
    page = client_for(reviewer).get(f"/review/items/{item.pk}/").text
    assert "A</span> flagged: Auto-renewal without notice period" in page
    assert "B</span> did not flag this" in page
    assert f'<blockquote class="quote" data-mark="a" title="Show in the document">{RENEWAL}</blockquote>' in page
    assert "Recommends: the finding stands</strong> with 80% confidence" in page
    assert "judge's pick" in page
    assert "The clause renews with no notice period." in page
    assert "<kbd>s</kbd>" in page and "<kbd>?</kbd>" in page
    assert "js/review.js" in page and "css/review.css" in page


def test_item_page_names_the_rubric_criteria_the_judge_used(client_for, reviewer, item):
    agent = Agent.objects.create(slug="judge", name="Judge", role="judge", model="m",
                                 prompt=Prompt.objects.create(slug="p", name="p"), output_schema={})  # fmt: skip
    rubric = Rubric.objects.create(slug="contracts", name="Contracts")
    version = RubricVersion.objects.create(rubric=rubric, number=3, criteria=[
        {"id": "auto-renewal-notice", "title": "Auto-renewal needs a notice period", "weight": 3,
         "guidance": "Flag renewals without a notice window."},
        {"id": "unused", "title": "Not cited", "weight": 1},
    ])  # fmt: skip
    Step.objects.create(run=item.run, key="judge", slot="judge", agent=agent, rubric_version=version)
    page = client_for(reviewer).get(f"/review/items/{item.pk}/").text
    assert "<strong>Auto-renewal needs a notice period</strong>" in page
    assert "weight 3" in page and "Flag renewals without a notice window." in page
    assert "<strong>evidence-quoted</strong>" in page  # cited but not in that rubric version: shown by its id
    assert "Not cited" not in page


def test_evidence_is_highlighted_per_advocate_and_document_text_escaped(client_for, reviewer):
    text = f"<script>alert(1)</script>\n{RENEWAL}\n{LIABILITY}\n"
    run = make_run([renewal_disputed(), liability_audit()], text=text)
    item = run.review_items.get(finding_type="liability")
    page = client_for(reviewer).get(f"/review/items/{item.pk}/").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)" not in page
    # Both advocates quoted the same sentence: one mark, both colours.
    assert '<mark class="a b">The supplier&#x27;s liability is unlimited for all claims.</mark>' in page
    # Only this item's evidence is marked.
    assert f">{RENEWAL}</mark>" not in page


def test_evidence_split_across_lines_is_still_highlighted(client_for, reviewer):
    run = make_run(text="Terms.\nThis agreement renews automatically\nfor successive one-year terms.\n")
    item = run.review_items.get()
    page = client_for(reviewer).get(f"/review/items/{item.pk}/").text
    assert '<mark class="a">This agreement renews automatically\nfor successive one-year terms.</mark>' in page


def test_a_quote_missing_from_the_document_is_pointed_out(client_for, reviewer):
    item = make_run(text="A contract that says something else entirely.").review_items.get()
    page = client_for(reviewer).get(f"/review/items/{item.pk}/").text
    assert "A's quote is not in the document's text" in page


def test_model_text_is_escaped_on_the_item_page(client_for, reviewer):
    hostile = renewal_disputed()
    hostile["a"] = {**hostile["a"], "explanation": "<img src=x onerror=alert(1)>"}
    hostile["judge"] = {**hostile["judge"], "rationale": "<b>trust me</b>"}
    item = make_run([hostile]).review_items.get()
    page = client_for(reviewer).get(f"/review/items/{item.pk}/").text
    assert "<img src=x" not in page
    assert "&lt;b&gt;trust me&lt;/b&gt;" in page


def test_item_page_labels_stand_in_findings(client_for, reviewer, item):
    page = client_for(reviewer).get(f"/review/items/{item.pk}/").text
    assert "Findings by the offline rule-based stand-in, not a language model" in page


def test_item_page_without_stand_in_has_no_label(client_for, reviewer, item):
    Run.objects.filter(pk=item.run_id).update(result={**item.run.result, "stand_in": False})
    page = client_for(reviewer).get(f"/review/items/{item.pk}/").text
    assert "rule-based stand-in" not in page


def test_an_item_without_advocates_offers_stands_edit_or_not_an_issue(client_for, reviewer):
    item = make_run([partial_result()]).review_items.get()
    page = client_for(reviewer).get(f"/review/items/{item.pk}/").text
    assert "The pipeline's finding: Partial result: financial missing" in page
    assert 'value="stands"' in page and 'value="custom"' in page and 'value="not_issue"' in page
    assert 'value="accept_a"' not in page


def test_item_page_links_to_neighbours_in_the_filtered_order(client_for, reviewer, second_reviewer):
    first, second, third = (make_run(age=timedelta(minutes=30 - n)).review_items.get() for n in range(3))
    audit = make_run([liability_audit()], age=timedelta(minutes=20)).review_items.get()
    client = client_for(reviewer)
    page = client.get(url_with(second)).text
    assert f'id="previous-item" rel="prev" href="{first.get_absolute_url()}"' in page
    assert f'id="next-item" rel="next" href="{third.get_absolute_url()}"' in page
    # Filtered to disagreements, newest first: the audit sample is skipped and the direction flips.
    query = "reason=disagreement&sort=-age"
    page = client.get(url_with(second, query)).text
    assert f'id="previous-item" rel="prev" href="{url_with(third, query).replace("&", "&amp;")}"' in page
    assert f'id="next-item" rel="next" href="{url_with(first, query).replace("&", "&amp;")}"' in page
    assert audit.get_absolute_url() not in page
    # An item someone else holds is not offered.
    third.claim(second_reviewer)
    page = client.get(url_with(second)).text
    assert 'id="next-item" rel="next" href="' + audit.get_absolute_url() in page


def test_item_page_lists_every_claim_release_and_decision(client_for, reviewer, second_reviewer, item):
    item.claim(reviewer)
    item.release(reviewer)
    item.claim(second_reviewer)
    item.decide(second_reviewer, "stands", "Plainly auto-renewing.", seconds_spent=12)
    page = client_for(reviewer).get(f"/review/items/{item.pk}/").text
    assert page.count("claimed it until") == 2
    assert "<strong>daniel</strong> released it" in page
    assert "<strong>rosa</strong> decided The finding stands after 12 s, noting “Plainly auto-renewing.”" in page
