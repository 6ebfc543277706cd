"""The JSON API at /api/v1/: tokens and scopes, the same roles and refusals as the
pages, upload (idempotent), runs, review items, pipelines, cursor pagination,
errors as JSON, and the schema and docs."""

import hashlib
import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from api.models import ApiToken, IdempotencyKey
from documents.models import Document
from orchestrator.models import Run
from review.models import Decision, ReviewItem
from tests.conftest import CONTRACT
from tests.test_review import make_run

ALL = ["read", "write", "review"]


def bearer(user: User, scopes=ALL) -> dict:
    _, secret = ApiToken.issue(user, "test", scopes)
    return {"Authorization": f"Bearer {secret}"}


def contract(name: str = "contract.txt", text: str = CONTRACT) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/plain")


@pytest.fixture
def item(db) -> ReviewItem:
    return make_run().review_items.get()


# Who may do what ------------------------------------------------------------------

READS = ["/api/v1/documents", "/api/v1/documents/{document}", "/api/v1/runs", "/api/v1/runs/{run}",
         "/api/v1/review-items", "/api/v1/review-items/{item}", "/api/v1/pipelines"]  # fmt: skip
REVIEWS = ["/api/v1/review-items/{item}/claim", "/api/v1/review-items/{item}/decide"]


def _url(url: str, item: ReviewItem) -> str:
    return url.format(document=item.run.document_id, run=item.run_id, item=item.pk)


@pytest.mark.parametrize("url", READS)
def test_analyst_reviewer_and_admin_read_every_endpoint(client, analyst, reviewer, admin_user, item, url):
    for user in (analyst, reviewer, admin_user):
        response = client.get(_url(url, item), headers=bearer(user, ["read"]))
        assert response.status_code == 200, (user, response.json())


@pytest.mark.parametrize("url", READS + REVIEWS + ["/api/v1/documents", "/api/v1/runs/{run}/cancel"])
def test_outsider_is_refused_everywhere(client, outsider, item, url):
    method = client.get if url in READS else client.post
    response = method(_url(url, item), headers=bearer(outsider), content_type="application/json", data={})
    assert response.status_code == 403
    assert "analyst role" in response.json()["error"] or "reviewer role" in response.json()["error"]


@pytest.mark.parametrize("url", READS + REVIEWS)
def test_a_revoked_token_is_refused_everywhere(client, reviewer, item, url):
    token, secret = ApiToken.issue(reviewer, "old", ALL)
    token.revoke()
    method = client.get if url in READS else client.post
    response = method(_url(url, item), headers={"Authorization": f"Bearer {secret}"}, content_type="application/json")
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]


@pytest.mark.parametrize("url", READS)
def test_no_token_no_session_is_refused_with_json_not_a_login_page(client, item, url):
    response = client.get(_url(url, item))
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json; charset=utf-8"


def test_a_deactivated_users_token_stops_working(client, analyst):
    headers = bearer(analyst)
    assert client.get("/api/v1/documents", headers=headers).status_code == 200
    analyst.is_active = False
    analyst.save()
    assert client.get("/api/v1/documents", headers=headers).status_code == 401


def test_an_unknown_token_is_refused(client, db):
    assert client.get("/api/v1/runs", headers={"Authorization": "Bearer qrm_nonsense"}).status_code == 401


@pytest.mark.parametrize("url", REVIEWS)
def test_analyst_cannot_claim_or_decide(client, analyst, item, url):
    response = client.post(_url(url, item), {"choice": "stands"}, content_type="application/json",
                           headers=bearer(analyst))  # fmt: skip
    assert response.status_code == 403
    assert response.json()["error"].startswith("This needs the reviewer role")


def test_a_read_token_cannot_upload_start_or_cancel(client, analyst, item):
    headers = bearer(analyst, ["read"])
    upload = client.post("/api/v1/documents", {"files": [contract()]}, headers=headers)
    start = client.post("/api/v1/runs", {"document": item.run.document_id, "pipeline": "contract-debate"},
                        content_type="application/json", headers=headers)  # fmt: skip
    cancel = client.post(f"/api/v1/runs/{item.run_id}/cancel", headers=headers)
    for response in (upload, start, cancel):
        assert response.status_code == 403
        assert "lacks the write scope" in response.json()["error"]
    assert Document.objects.count() == 1


def test_a_reviewer_token_without_the_review_scope_cannot_claim(client, reviewer, item):
    response = client.post(f"/api/v1/review-items/{item.pk}/claim", headers=bearer(reviewer, ["read", "write"]))
    assert response.status_code == 403
    assert "lacks the review scope" in response.json()["error"]
    item.refresh_from_db()
    assert item.status == ReviewItem.Status.OPEN


def test_a_signed_in_browser_session_works_but_needs_csrf_to_write(analyst, item):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(analyst)
    assert browser.get("/api/v1/runs").status_code == 200
    refused = browser.post(f"/api/v1/runs/{item.run_id}/cancel")
    assert refused.status_code == 403
    assert "CSRF" in refused.content.decode()


# Documents ------------------------------------------------------------------------


def test_upload_saves_each_file_and_starts_a_run_on_it(client, analyst, debate_pipeline, queues):
    response = client.post(
        "/api/v1/documents",
        {"files": [contract(), contract("second.txt", CONTRACT + "\n8. Notices by e-mail.")],
         "pipeline": "contract-debate"},
        headers=bearer(analyst),
    )  # fmt: skip
    assert response.status_code == 201, response.json()
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["accepted", "accepted"]
    assert [r["document"]["name"] for r in results] == ["contract.txt", "second.txt"]
    assert results[0]["document"]["text_status"] == "ready"
    assert results[0]["run"]["status"] == "running"
    assert results[0]["run"]["url"] == f"http://testserver/api/v1/runs/{results[0]['run']['id']}"
    assert Run.objects.filter(created_by=analyst).count() == 2


def test_upload_reports_refused_and_duplicate_files_one_by_one(client, analyst, db):
    client.post("/api/v1/documents", {"files": [contract()]}, headers=bearer(analyst))
    response = client.post("/api/v1/documents", {"files": [contract(), contract("empty.txt", "")]},
                           headers=bearer(analyst))  # fmt: skip
    assert response.status_code == 201
    duplicate, refused = response.json()["results"]
    assert duplicate["status"] == "duplicate" and duplicate["document"]["name"] == "contract.txt"
    assert refused["status"] == "refused" and refused["reason"] and refused["document"] is None


def test_upload_with_an_unknown_pipeline_names_the_field(client, analyst, db):
    response = client.post("/api/v1/documents", {"files": [contract()], "pipeline": "nope"}, headers=bearer(analyst))
    assert response.status_code == 422
    assert response.json()["fields"] == {"pipeline": ["Not the slug of an active pipeline."]}
    assert not Document.objects.exists()


def test_upload_without_files_names_the_field(client, analyst, db):
    response = client.post("/api/v1/documents", {"pipeline": ""}, headers=bearer(analyst))
    assert response.status_code == 422
    assert "files" in response.json()["fields"]


def test_a_retried_upload_with_the_same_key_makes_no_second_document_or_run(client, analyst, debate_pipeline, queues):
    headers = {**bearer(analyst), "Idempotency-Key": "upload-7f3a"}
    first = client.post("/api/v1/documents", {"files": [contract()], "pipeline": "contract-debate"}, headers=headers)
    again = client.post("/api/v1/documents", {"files": [contract()], "pipeline": "contract-debate"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.json()["results"][0]["status"] == "accepted"  # what the first request got
    assert Document.objects.count() == 1
    assert Run.objects.count() == 1


def test_without_a_key_a_second_upload_starts_a_second_run(client, analyst, debate_pipeline, queues):
    for _ in range(2):
        client.post(
            "/api/v1/documents", {"files": [contract()], "pipeline": "contract-debate"}, headers=bearer(analyst)
        )
    assert Document.objects.count() == 1
    assert Run.objects.count() == 2


def test_a_key_reused_for_another_request_is_refused(client, analyst, db):
    headers = {**bearer(analyst), "Idempotency-Key": "k1"}
    client.post("/api/v1/documents", {"files": [contract()]}, headers=headers)
    response = client.post("/api/v1/documents", {"files": [contract("other.txt", "Another text.")]}, headers=headers)
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["fields"]
    assert Document.objects.count() == 1


def test_idempotency_keys_are_per_user(client, analyst, reviewer, db):
    client.post("/api/v1/documents", {"files": [contract()]}, headers={**bearer(analyst), "Idempotency-Key": "k"})
    response = client.post("/api/v1/documents", {"files": [contract("b.txt", "Other words.")]},
                           headers={**bearer(reviewer), "Idempotency-Key": "k"})  # fmt: skip
    assert response.status_code == 201
    assert IdempotencyKey.objects.count() == 2


def test_get_a_document_with_and_without_its_text(client, analyst, make_document):
    document = make_document()
    plain = client.get(f"/api/v1/documents/{document.pk}", headers=bearer(analyst)).json()
    assert plain["text"] is None and plain["text_length"] == len(CONTRACT) and plain["text_status"] == "ready"
    full = client.get(f"/api/v1/documents/{document.pk}?include=text", headers=bearer(analyst)).json()
    assert full["text"] == CONTRACT


def test_an_unknown_document_is_a_json_404(client, analyst, db):
    response = client.get("/api/v1/documents/999999", headers=bearer(analyst))
    assert response.status_code == 404
    assert response.json() == {"error": "Not found.", "fields": {}}


def test_a_url_under_the_api_that_matches_no_endpoint_is_a_json_404_and_a_page_stays_html(client, analyst, db):
    for url in ("/api/v1/runs/abc", "/api/v1/runs/null%2Cnull/cancel", "/api/v1/nothing-here"):
        response = client.get(url, headers=bearer(analyst))
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
        assert "Not found" in response.json()["error"]
    client.force_login(analyst)
    page = client.get("/runs/abc")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


def test_a_crash_under_the_api_answers_json(rf):
    from api.v1 import server_error

    response = server_error(rf.get("/api/v1/runs"))
    assert response.status_code == 500 and "logged" in json.loads(response.content)["error"]
    assert server_error(rf.get("/runs/"))["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("query", ["q=a%00b", "uploaded_by=%00", "doc_type=x%00", "kind=%00"])
def test_a_nul_character_in_a_filter_is_refused_by_name_not_a_server_error(client, analyst, db, query):
    """Found by schemathesis: PostgreSQL cannot compare a NUL, and the documents
    list sent it to the database (500)."""
    response = client.get(f"/api/v1/documents?{query}", headers=bearer(analyst))
    assert response.status_code == 422
    name = query.split("=")[0]
    assert name in response.json()["fields"]


def test_the_schema_documents_the_refusals_of_every_list(client, analyst, db):
    paths = client.get("/api/v1/openapi.json", headers=bearer(analyst)).json()["paths"]
    for url in ("/api/v1/documents", "/api/v1/runs", "/api/v1/review-items", "/api/v1/pipelines"):
        assert "422" in paths[url]["get"]["responses"], url
    # A body that is not JSON is a 400, said so where a body is read.
    assert "400" in paths["/api/v1/runs"]["post"]["responses"]
    assert "400" in paths["/api/v1/review-items/{item_id}/decide"]["post"]["responses"]
    sizes = {p["name"]: p["schema"] for p in paths["/api/v1/pipelines"]["get"]["parameters"]}
    assert sizes["pages"]["anyOf"][0]["minimum"] == 1  # as the estimator form checks it


def test_a_body_that_is_not_json_is_a_json_400(client, analyst, db):
    response = client.post("/api/v1/runs", data=b"\x00", content_type="application/json", headers=bearer(analyst))
    assert response.status_code == 400 and "parse" in response.json()["error"]


def _documents(n: int) -> list[Document]:
    return [
        Document.objects.create(
            file="documents/x.txt",
            original_name=f"doc-{i:02}.txt",
            kind="text",
            size=1,
            text="x",
            sha256=hashlib.sha256(str(i).encode()).hexdigest(),
            doc_type="invoice" if i % 2 else "contract",
        )  # fmt: skip
        for i in range(n)
    ]


def test_documents_page_by_cursor_newest_first_without_gaps_or_repeats(client, analyst, db):
    made = _documents(23)
    headers = bearer(analyst)
    url, seen = "/api/v1/documents?page_size=10", []
    while url:
        page = client.get(url, headers=headers).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]
        # A document arriving while the client pages shifts nothing.
        if len(seen) == 10:
            _documents(0)
            Document.objects.create(file="documents/y.txt", original_name="late.txt", kind="text", size=1, text="y",
                                    sha256="f" * 64)  # fmt: skip
    assert seen == sorted((d.pk for d in made), reverse=True)


def test_documents_filter_by_name_and_type(client, analyst, db):
    _documents(6)
    headers = bearer(analyst)
    names = [r["name"] for r in client.get("/api/v1/documents?doc_type=invoice", headers=headers).json()["results"]]
    assert names == ["doc-05.txt", "doc-03.txt", "doc-01.txt"]
    names = [r["name"] for r in client.get("/api/v1/documents?q=doc-04", headers=headers).json()["results"]]
    assert names == ["doc-04.txt"]


# Runs -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_run_started_by_api_finishes_with_findings_cost_and_steps(client, analyst, debate_pipeline, make_document,
                                                                    run_jobs):  # fmt: skip
    document = make_document()
    headers = bearer(analyst)
    started = client.post("/api/v1/runs", {"document": document.pk, "pipeline": "contract-debate"},
                          content_type="application/json", headers=headers)  # fmt: skip
    assert started.status_code == 201, started.json()
    run_jobs()
    run = client.get(f"/api/v1/runs/{started.json()['id']}", headers=headers).json()
    assert run["status"] in {"done", "needs_review"}
    assert run["findings"] and run["findings"] == run["result"]["findings"]
    assert run["steps"] and {step["key"] for step in run["steps"]} >= {"advocate:a", "advocate:b", "judge"}
    assert all(step["request"] is None and step["raw_response"] is None for step in run["steps"])
    assert run["tokens"]["input"] > 0 and float(run["cost"]) >= 0
    assert run["stand_in"] is True
    traced = client.get(f"/api/v1/runs/{run['id']}?include=requests", headers=headers).json()
    assert all(step["request"]["messages"] for step in traced["steps"])


@pytest.mark.django_db(transaction=True)
def test_a_run_that_could_not_review_its_document_says_so_and_why(client, analyst, debate_pipeline, make_document,
                                                                 run_jobs):  # fmt: skip
    from notify.receivers import run_data

    headers = bearer(analyst)
    placeholder = make_document("%PDF-", "contract.txt")
    started = client.post("/api/v1/runs", {"document": placeholder.pk, "pipeline": "contract-debate"},
                          content_type="application/json", headers=headers)  # fmt: skip
    run_jobs()
    run = client.get(f"/api/v1/runs/{started.json()['id']}", headers=headers).json()
    # "done" with no findings would read as a clean contract: the run says it reviewed nothing.
    assert run["findings"] == [] and run["not_reviewed"] == "5 characters of text"
    (listed,) = client.get("/api/v1/runs", headers=headers).json()["results"]
    assert listed["not_reviewed"] == "5 characters of text"
    assert run_data(Run.objects.get(pk=run["id"]))["run"]["not_reviewed"] == "5 characters of text"
    reviewed = client.post("/api/v1/runs", {"document": make_document().pk, "pipeline": "contract-debate"},
                           content_type="application/json", headers=headers).json()  # fmt: skip
    assert reviewed["not_reviewed"] == ""


def test_starting_a_run_names_the_wrong_fields(client, analyst, db):
    response = client.post("/api/v1/runs", {"document": 424242, "pipeline": "nope"}, content_type="application/json",
                           headers=bearer(analyst))  # fmt: skip
    assert response.status_code == 422
    assert set(response.json()["fields"]) == {"document", "pipeline"}


def test_a_malformed_body_names_the_missing_field(client, analyst, db):
    response = client.post("/api/v1/runs", {"pipeline": "x"}, content_type="application/json", headers=bearer(analyst))
    assert response.status_code == 422
    assert response.json()["fields"] == {"document": ["Field required"]}


def test_runs_list_takes_the_runs_page_filters(client, analyst, item):
    other = make_run(pipeline_slug="other-debate")
    Run.objects.filter(pk=other.pk).update(status=Run.Status.DONE)
    headers = bearer(analyst)
    rows = client.get("/api/v1/runs?status=needs_review", headers=headers).json()["results"]
    assert [row["id"] for row in rows] == [item.run_id]
    rows = client.get("/api/v1/runs?pipeline=other-debate", headers=headers).json()["results"]
    assert [row["id"] for row in rows] == [other.pk]
    rows = client.get(f"/api/v1/runs?document={other.document_id}", headers=headers).json()["results"]
    assert [row["id"] for row in rows] == [other.pk]
    refused = client.get("/api/v1/runs?status=sideways", headers=headers)
    assert refused.status_code == 422 and "status" in refused.json()["fields"]


def test_runs_page_by_cursor(client, analyst, item):
    runs = [make_run() for _ in range(4)] + [item.run]
    seen, url = [], "/api/v1/runs?page_size=2"
    while url:
        page = client.get(url, headers=bearer(analyst)).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]
    assert seen == sorted((run.pk for run in runs), reverse=True)


def test_a_held_run_can_be_cancelled_and_a_finished_one_cannot(client, analyst, item):
    held = make_run()
    Run.objects.filter(pk=held.pk).update(status=Run.Status.HELD)
    headers = bearer(analyst)
    response = client.post(f"/api/v1/runs/{held.pk}/cancel", headers=headers)
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    refused = client.post(f"/api/v1/runs/{item.run_id}/cancel", headers=headers)
    assert refused.status_code == 409
    assert "only a queued or held run" in refused.json()["error"]


# Review items ---------------------------------------------------------------------


def test_review_items_list_open_ones_with_the_inbox_filters(client, analyst, item):
    decided = make_run(pipeline_slug="other-debate").review_items.get()
    ReviewItem.objects.filter(pk=decided.pk).update(status=ReviewItem.Status.RESOLVED)
    late = make_run(age=timedelta(days=3)).review_items.get()
    headers = bearer(analyst)
    rows = client.get("/api/v1/review-items", headers=headers).json()["results"]
    assert {row["id"] for row in rows} == {item.pk, late.pk}
    overdue = client.get("/api/v1/review-items?age=overdue", headers=headers).json()["results"]
    assert [(row["id"], row["overdue"]) for row in overdue] == [(late.pk, True)]
    assert client.get("/api/v1/review-items?reason=audit_sample", headers=headers).json()["results"] == []
    assert client.get("/api/v1/review-items?reason=bogus", headers=headers).status_code == 422


def test_reviewer_claims_and_a_second_reviewer_is_told_who_holds_it(client, reviewer, second_reviewer, item):
    mine = client.post(f"/api/v1/review-items/{item.pk}/claim", headers=bearer(reviewer))
    assert mine.status_code == 200 and mine.json()["claimed_by"] == reviewer.username
    theirs = client.post(f"/api/v1/review-items/{item.pk}/claim", headers=bearer(second_reviewer))
    assert theirs.status_code == 409
    assert theirs.json()["error"].startswith(f"Claimed by {reviewer.username} until")


def test_overturning_the_judge_needs_a_note(client, reviewer, item):
    headers = bearer(reviewer)
    refused = client.post(f"/api/v1/review-items/{item.pk}/decide", {"choice": "not_issue"},
                          content_type="application/json", headers=headers)  # fmt: skip
    assert refused.status_code == 422
    assert refused.json()["fields"]["note"][0].startswith("Say why in a note")
    assert not Decision.objects.exists()
    decided = client.post(f"/api/v1/review-items/{item.pk}/decide",
                          {"choice": "not_issue", "note": "Not an issue: the clause has a notice period."},
                          content_type="application/json", headers=headers)  # fmt: skip
    assert decided.status_code == 201
    assert decided.json()["overturned"] is True and decided.json()["decided_by"] == reviewer.username
    item.refresh_from_db()
    assert item.status == ReviewItem.Status.RESOLVED
    assert item.run.status == Run.Status.REVIEWED if hasattr(Run.Status, "REVIEWED") else True


def test_an_item_is_decided_once_the_second_reviewer_is_told(client, reviewer, second_reviewer, item):
    client.post(f"/api/v1/review-items/{item.pk}/decide", {"choice": "stands"}, content_type="application/json",
                headers=bearer(reviewer))  # fmt: skip
    late = client.post(f"/api/v1/review-items/{item.pk}/decide", {"choice": "stands"},
                       content_type="application/json", headers=bearer(second_reviewer))  # fmt: skip
    assert late.status_code == 409
    assert late.json()["error"].startswith(f"Already decided by {reviewer.username}")
    assert Decision.objects.count() == 1


def test_an_unknown_choice_names_the_field(client, reviewer, item):
    response = client.post(f"/api/v1/review-items/{item.pk}/decide", {"choice": "maybe"},
                           content_type="application/json", headers=bearer(reviewer))  # fmt: skip
    assert response.status_code == 422 and "choice" in response.json()["fields"]


def test_a_decided_item_shows_its_decision(client, reviewer, item):
    item.decide(reviewer, "stands")
    row = client.get(f"/api/v1/review-items/{item.pk}", headers=bearer(reviewer)).json()
    assert row["status"] == "resolved" and row["decision"]["choice"] == "stands"


# Pipelines ------------------------------------------------------------------------


def test_pipelines_list_the_active_ones_with_their_estimate(client, analyst, debate_pipeline):
    rows = client.get("/api/v1/pipelines?pages=10", headers=bearer(analyst)).json()
    row = next(row for row in rows if row["slug"] == "contract-debate")
    assert row["pattern"] == "debate" and row["calls_per_document"] >= 3
    assert row["stand_in"] is True and "cost_per_document_p50" in row
    assert any("size" in line for line in row["basis"])


# Schema, docs, tokens -------------------------------------------------------------


def test_openapi_schema_lists_every_endpoint(client, analyst):
    client.force_login(analyst)
    schema = client.get("/api/v1/openapi.json").json()
    assert {"/api/v1/documents", "/api/v1/runs/{run_id}", "/api/v1/review-items/{item_id}/decide",
            "/api/v1/pipelines", "/api/v1/runs/{run_id}/cancel"} <= set(schema["paths"])  # fmt: skip


def test_schema_is_readable_with_a_token_and_refused_anonymously(client, analyst):
    assert client.get("/api/v1/openapi.json", headers=bearer(analyst)).status_code == 200
    assert client.get("/api/v1/openapi.json").status_code == 401


def test_docs_are_for_signed_in_users_and_use_static_assets(client, analyst):
    assert client.get("/api/v1/docs").status_code == 302
    client.force_login(analyst)
    page = client.get("/api/v1/docs").content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower()


def test_a_token_is_shown_once_and_only_its_hash_is_kept(client, analyst):
    client.force_login(analyst)
    response = client.post("/settings/tokens/", {"name": "contract system", "scopes": ["read", "write"]}, follow=True)
    secret = response.context["new_secret"]["secret"]
    assert secret.startswith("qrm_") and secret in response.content.decode()
    token = ApiToken.objects.get()
    assert token.name == "contract system" and token.scopes == ["read", "write"]
    assert secret not in str(list(ApiToken.objects.values_list()))
    assert token.hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in client.get("/settings/").content.decode()


def test_settings_page_shows_when_a_token_was_last_used_and_revokes_it(client, analyst):
    token, secret = ApiToken.issue(analyst, "nightly import", ["read"])
    client.force_login(analyst)
    assert "never" in client.get("/settings/").content.decode()
    client.get("/api/v1/runs", headers={"Authorization": f"Bearer {secret}"})
    token.refresh_from_db()
    assert token.last_used_at is not None and timezone.now() - token.last_used_at < timedelta(hours=1)
    client.post(f"/settings/tokens/{token.pk}/revoke")
    assert "revoked" in client.get("/settings/").content.decode()
    client.logout()
    assert client.get("/api/v1/runs", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def test_a_user_cannot_revoke_someone_elses_token(client, analyst, reviewer):
    token, _ = ApiToken.issue(reviewer, "theirs", ["read"])
    client.force_login(analyst)
    assert client.post(f"/settings/tokens/{token.pk}/revoke").status_code == 404
    token.refresh_from_db()
    assert not token.is_revoked


def test_a_token_needs_a_name_and_a_scope(client, analyst):
    client.force_login(analyst)
    response = client.post("/settings/tokens/", {"name": "", "scopes": []})
    assert response.status_code == 400
    assert not ApiToken.objects.exists()
