"""Documents: upload (one file or many), what is refused and why, duplicates,
the list and detail pages, and the download of originals."""

import codecs
from pathlib import Path

import pytest
from django.core.files import File
from django.db import connection
from django.urls import reverse
from pytest_django.asserts import assertContains, assertNotContains

from documents.extraction import ENCRYPTED, SCANNED, ExtractionError, extract, sniff
from documents.ingest import ingest
from documents.models import Document
from documents.samples import SAMPLE_NAMES, SAMPLES_DIR, ingest_samples
from orchestrator.demo.seed import seed_debate_pipeline
from orchestrator.models import Pipeline, Run
from tests import files
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

UPLOAD = reverse("documents:upload")
LIST = reverse("documents:list")


def upload(client, *uploads, **data):
    return client.post(UPLOAD, {"files": list(uploads), **data})


def upload_one(client, name: str, data: bytes):
    """The result of uploading one file: its row's status and reason."""
    response = upload(client, files.upload(name, data))
    assert response.status_code == 200
    [result] = response.context["results"]
    return result


def stored_files(settings) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def make_document(user=None, name="contract.txt", text="The supplier shall deliver.") -> Document:
    return ingest(files.upload(name, text.encode()), user).document


def make_pipeline(slug="contract-debate") -> Pipeline:
    return Pipeline.objects.create(slug=slug, name="Contract review (Debate)", pattern=Pipeline.Pattern.DEBATE)


# What a file is, from its bytes


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (files.text_pdf(), Document.Kind.PDF),
        (b"\n\n" + files.text_pdf(), Document.Kind.PDF),
        (files.docx_file("Hello"), Document.Kind.DOCX),
        (b"# Heading\n\nSome *Markdown* text.", Document.Kind.TEXT),
        (b"Our PDFs start with %PDF-1.7; this note is plain text.", Document.Kind.TEXT),
        (b"  <!doctype html><title>x</title><p>Hi", Document.Kind.HTML),
        (b"<p>A fragment of HTML</p>", Document.Kind.HTML),
        (codecs.BOM_UTF8 + b"<html><body>Hi</body></html>", Document.Kind.HTML),
        ("<html><body>Hi</body></html>".encode("utf-16"), Document.Kind.HTML),
        ("Plain text in UTF-16.".encode("utf-16"), Document.Kind.TEXT),
        (b"MZ Logistics: minutes of the meeting.", Document.Kind.TEXT),
    ],
)
def test_kind_is_read_from_the_bytes(data, kind):
    assert sniff(data) == kind


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (files.zip_archive(), "a ZIP archive"),
        (files.windows_program(), "a Windows program"),
        (files.binary_junk(), "binary data"),
        (b"GIF89a\x01\x00\x01\x00", "a GIF image"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "an older Office file"),
    ],
)
def test_files_that_are_not_documents_are_refused_as_unsupported(data, words):
    with pytest.raises(ExtractionError) as refused:
        sniff(data)
    assert refused.value.reason.startswith(f"unsupported: this is {words}")


# Uploads: what is accepted


def test_text_pdf_is_accepted_with_its_text_and_page_count(client_for, analyst, settings):
    data = files.text_pdf("1. Term. Renews automatically.", "2. Liability shall not be limited.")
    result = upload_one(client_for(analyst), "supply.pdf", data)

    assert result.status == "accepted"
    document = Document.objects.get()
    assert document == result.document
    assert document.kind == Document.Kind.PDF
    assert document.page_count == 2
    assert "Renews automatically." in document.text and "shall not be limited" in document.text
    assert document.original_name == "supply.pdf"
    assert document.size == len(data)
    assert document.uploaded_by == analyst
    assert document.file.read() == data


def test_stored_file_has_a_random_name_with_the_extension_of_what_it_is(client_for, analyst, settings):
    upload_one(client_for(analyst), "../../etc/passwd.txt", files.text_pdf())

    document = Document.objects.get()
    assert document.original_name == "passwd.txt"
    assert document.file.name.startswith("documents/") and document.file.name.endswith(".pdf")
    assert "passwd" not in document.file.name
    [path] = stored_files(settings)
    assert path.is_relative_to(settings.MEDIA_ROOT)


def test_pdf_named_txt_is_read_as_pdf(client_for, analyst):
    result = upload_one(client_for(analyst), "notes.txt", files.text_pdf("Governing law: England and Wales."))

    assert result.status == "accepted"
    assert result.document.kind == Document.Kind.PDF
    assert "Governing law" in result.document.text
    assert "%PDF" not in result.document.text


def test_pdf_with_only_an_owner_password_is_read(client_for, analyst):
    result = upload_one(client_for(analyst), "locked-for-editing.pdf", files.encrypted_pdf(user_password=""))

    assert result.status == "accepted"
    assert "Confidential pricing schedule." in result.document.text


def test_docx_is_read_in_order_with_its_tables(client_for, analyst):
    data = files.docx_file(
        "1. Parties.", "2. Payment within a reasonable time.", table=[["Item", "Price"], ["Widget", "EUR 10"]]
    )
    result = upload_one(client_for(analyst), "services.docx", data)

    assert result.document.kind == Document.Kind.DOCX
    assert result.document.page_count is None
    text = result.document.text
    assert text.index("1. Parties.") < text.index("2. Payment") < text.index("Widget | EUR 10")


def test_markdown_is_read_as_text(client_for, analyst):
    result = upload_one(client_for(analyst), "notes.md", b"# Notes\n\n- net 90\n- 2% monthly interest\n")

    assert result.document.kind == Document.Kind.TEXT
    assert result.document.text == "# Notes\n\n- net 90\n- 2% monthly interest"


def test_html_scripts_never_reach_the_text(client_for, analyst):
    result = upload_one(client_for(analyst), "invoice.html", files.hostile_html())

    text = result.document.text
    assert result.document.kind == Document.Kind.HTML
    assert "Invoice 42" in text
    assert "Total due: EUR 100.00 & no VAT." in text
    assert "Widget | 2" in text
    assert "<script>shown as text</script>" in text
    for hidden in ["document.cookie", "alert", "color: red", "Ignore previous instructions", "Hidden paragraph"]:
        assert hidden not in text
    assert "Please enable JavaScript" not in text


def test_html_without_a_closing_head_still_shows_its_body():
    extracted = extract(b"<html><head><title>T</title><body><p>Body text.</p></body></html>", "page.html")
    assert extracted.text == "Body text."


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (files.cp1252_text(), "Price: \u20ac 1.250,00 \u2013 \u201cnet 30\u201d, signed by Ren\u00e9e M\u00fcller."),
        (files.latin1_text(), "Caf\u00e9 cr\u00e8me \x81\x8d au lait, 12 \u00b0C."),
        (codecs.BOM_UTF8 + "Gr\u00fc\u00dfe aus K\u00f6ln".encode(), "Gr\u00fc\u00dfe aus K\u00f6ln"),
        ("\u00c9t\u00e9 \u2014 UTF-16".encode("utf-16"), "\u00c9t\u00e9 \u2014 UTF-16"),
        (b"Windows\r\nline\r\nendings\r\n", "Windows\nline\nendings"),
    ],
)
def test_text_in_other_encodings_is_decoded(data, text):
    assert extract(data, "letter.txt").text == text


def test_huge_text_is_kept_whole_and_shown_in_part(client_for, analyst):
    line = "Clause: the supplier shall deliver the goods on time and in full.\n"
    data = (line * (300_000 // len(line) + 1)).encode()
    client = client_for(analyst)
    result = upload_one(client, "huge.txt", data)

    assert len(result.document.text) == len(data.strip())
    response = client.get(result.document.get_absolute_url())
    assertContains(response, "Showing the first 200,000 of")
    assert len(response.content) < 300_000


# Uploads: what is refused, and why


def test_encrypted_pdf_is_refused_with_a_reason(client_for, analyst):
    response = upload(client_for(analyst), files.upload("prices.pdf", files.encrypted_pdf()))

    [result] = response.context["results"]
    assert result.status == "refused"
    assert result.reason == ENCRYPTED == "encrypted: remove the password and upload again"
    assertContains(response, "encrypted: remove the password and upload again")
    assert not Document.objects.exists()


def test_blank_pdf_is_refused_as_having_no_text(client_for, analyst):
    client = client_for(analyst)
    assert upload_one(client, "blank.pdf", files.blank_pdf()).reason == SCANNED == "scanned image, no text to read"


@pytest.mark.django_db(transaction=True)
def test_scan_without_words_fails_after_ocr_and_says_why(client_for, analyst, run_jobs):
    client = client_for(analyst)
    result = upload_one(client, "scan.pdf", files.scanned_pdf())
    assert result.status == "extracting"

    run_jobs()
    document = Document.objects.get()
    assert document.status == Document.Status.FAILED
    assert document.error == SCANNED
    assertContains(client.get(document.get_absolute_url()), f"The text could not be read: {SCANNED}")


def test_corrupt_pdf_is_refused(client_for, analyst):
    result = upload_one(client_for(analyst), "cut-off.pdf", files.corrupt_pdf())
    assert result.reason.startswith("corrupt: the PDF is damaged")


def test_corrupt_docx_is_refused(client_for, analyst):
    data = files.docx_file("A paragraph.")
    result = upload_one(client_for(analyst), "cut-off.docx", data[: len(data) // 2])
    assert result.reason.startswith("corrupt:")


def test_empty_file_is_refused(client_for, analyst):
    client = client_for(analyst)
    assert upload_one(client, "empty.txt", b"").reason == "empty: the file has no text in it"
    assert upload_one(client, "spaces.txt", b"  \n\t \n").reason.startswith("empty:")
    assert upload_one(client, "nothing.html", b"<html><body><script>x()</script></body></html>").reason.startswith(
        "empty:"
    )
    assert upload_one(client, "empty.docx", files.docx_file()).reason.startswith("empty:")


def test_oversize_file_is_refused(client_for, analyst, settings):
    settings.QUORUM_MAX_UPLOAD_BYTES = 1024
    response = upload(client_for(analyst), files.upload("long.txt", b"x" * 2048))

    assert response.status_code == 413
    [result] = response.context["results"]
    assert result.reason == "too large: the file is over the limit of 1.0 KB"
    assert not Document.objects.exists()


def test_zip_named_pdf_is_refused_as_unsupported(client_for, analyst):
    result = upload_one(client_for(analyst), "contract.pdf", files.zip_archive())
    assert result.reason.startswith("unsupported: this is a ZIP archive, although its name ends in .pdf.")


def test_program_named_pdf_is_refused_as_unsupported(client_for, analyst):
    result = upload_one(client_for(analyst), "contract.pdf", files.windows_program())
    assert result.reason.startswith("unsupported: this is a Windows program, although its name ends in .pdf.")


def test_binary_junk_is_refused(client_for, analyst):
    result = upload_one(client_for(analyst), "data.bin", files.binary_junk())
    assert result.reason == (
        "unsupported: this is binary data, not a document. "
        "Quorum reads PDF, Word (.docx), plain text, Markdown, HTML and scans (PNG, JPEG, TIFF)."
    )


def test_failed_upload_leaves_no_rows_or_files(client_for, analyst, settings):
    bad = [
        files.upload("locked.pdf", files.encrypted_pdf()),
        files.upload("blank.pdf", files.blank_pdf()),
        files.upload("cut.pdf", files.corrupt_pdf()),
        files.upload("empty.txt", b""),
        files.upload("archive.pdf", files.zip_archive()),
        files.upload("junk.bin", files.binary_junk()),
    ]
    response = upload(client_for(analyst), *bad)

    assert [result.status for result in response.context["results"]] == ["refused"] * 6
    assert not Document.objects.exists()
    assert stored_files(settings) == []


def test_file_is_removed_when_its_row_cannot_be_saved(client_for, analyst, settings):
    # A real database failure after the file is written: a trigger refuses the insert.
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION refuse_documents() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'disk full'; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER refuse_documents BEFORE INSERT ON documents_document "
            "FOR EACH ROW EXECUTE FUNCTION refuse_documents()"
        )
    result = upload_one(client_for(analyst), "contract.txt", b"The supplier shall deliver.")

    assert result.status == "refused"
    assert result.reason == "not saved: the server could not store it; please try again"
    assert not Document.objects.exists()
    assert stored_files(settings) == []


# Several files at once, duplicates, runs


def test_each_of_many_files_gets_its_own_result(client_for, analyst, settings):
    response = upload(
        client_for(analyst),
        files.upload("a.pdf", files.text_pdf("First contract.")),
        files.upload("b.docx", files.docx_file("Second contract.")),
        files.upload("locked.pdf", files.encrypted_pdf()),
        files.upload("c.html", b"<p>Third contract.</p>"),
    )

    results = response.context["results"]
    assert [(r.name, r.status) for r in results] == [
        ("a.pdf", "accepted"),
        ("b.docx", "accepted"),
        ("locked.pdf", "refused"),
        ("c.html", "accepted"),
    ]
    assert Document.objects.count() == 3
    assert len(stored_files(settings)) == 3
    for result in results[:2]:
        assertContains(response, f'href="{result.document.get_absolute_url()}"')


def test_duplicate_points_to_existing_document(client_for, analyst, reviewer):
    data = files.text_pdf("The same contract, twice.")
    first = upload_one(client_for(analyst), "original.pdf", data)
    response = upload(client_for(reviewer), files.upload("copy-of-original.pdf", data))

    [second] = response.context["results"]
    assert second.status == "duplicate"
    assert second.document == first.document
    assert Document.objects.count() == 1
    assertContains(response, "duplicate")
    assertContains(response, f'of <a href="{first.document.get_absolute_url()}">original.pdf</a>', html=False)


@pytest.mark.django_db(transaction=True)  # its extraction job is enqueued on commit
def test_a_document_that_could_not_be_read_is_read_again_when_uploaded_again(client_for, analyst, queues, run_jobs):
    """Uploaded again, a file whose reading failed is read again, not answered
    "duplicate" of the failure for ever, and its run starts once it is read."""
    pipeline = seed_debate_pipeline()
    data = b"A scan the extraction job could not read."
    first = make_document(name="scan.txt", text=data.decode())
    Document.objects.filter(pk=first.pk).update(status=Document.Status.FAILED, error="scanned image, no text to read")

    response = upload(client_for(analyst), files.upload("scan-again.txt", data), pipeline=pipeline.pk)

    [again] = response.context["results"]
    assert again.status != "duplicate" and again.document == first
    run_jobs()
    first.refresh_from_db()
    assert first.status == Document.Status.READY and first.error == ""
    assert Run.objects.filter(document=first, pipeline=pipeline).exists()


def test_duplicate_within_one_batch_is_saved_once(client_for, analyst, settings):
    data = b"The same bytes under two names."
    response = upload(client_for(analyst), files.upload("one.txt", data), files.upload("two.txt", data))

    assert [r.status for r in response.context["results"]] == ["accepted", "duplicate"]
    assert len(stored_files(settings)) == 1


def test_upload_form_offers_active_pipelines_and_defaults_to_contract_debate(client_for, analyst):
    pipeline = make_pipeline()
    Pipeline.objects.create(slug="old", name="Retired pipeline", pattern=Pipeline.Pattern.CHAIN, is_active=False)
    response = client_for(analyst).get(UPLOAD)

    assertContains(response, 'type="file"')
    assertContains(response, "multiple")
    assertContains(response, 'enctype="multipart/form-data"')
    assertContains(response, "csrfmiddlewaretoken")
    assertContains(response, f'<option value="{pipeline.pk}" selected>Contract review (Debate)</option>')
    assertNotContains(response, "Retired pipeline")


def test_upload_without_a_pipeline_starts_no_run(client_for, analyst):
    make_pipeline()
    result = upload_one(client_for(analyst), "contract.txt", b"The supplier shall deliver.")
    assert result.run is None
    assert not Run.objects.exists()


def test_upload_with_a_pipeline_starts_a_run_for_each_document(client_for, analyst, queues):
    pipeline = seed_debate_pipeline()
    existing = make_document(name="known.txt", text="Known contract text.")
    response = upload(
        client_for(analyst),
        files.upload("new.pdf", files.text_pdf("This agreement renews automatically.")),
        files.upload("again.txt", b"Known contract text."),
        files.upload("locked.pdf", files.encrypted_pdf()),
        pipeline=pipeline.pk,
    )

    accepted, duplicate, refused = response.context["results"]
    assert accepted.run.document == accepted.document and accepted.run.pipeline == pipeline
    assert duplicate.run.document == existing
    assert refused.run is None
    assert Run.objects.filter(created_by=analyst).count() == 2
    assertContains(response, f'href="{reverse("orchestrator:run", args=[accepted.run.pk])}"')


def test_script_upload_gets_just_the_result_row(client_for, analyst):
    response = client_for(analyst).post(
        UPLOAD,
        {"files": [files.upload("a.txt", b"A short contract.")]},
        headers={"X-Requested-With": "XMLHttpRequest"},
    )

    content = response.content.decode().strip()
    assert content.startswith('<tr class="upload-result accepted"')
    assert content.endswith("</tr>")
    assert "<html" not in content


def test_htmx_upload_with_no_file_gets_a_refused_row(client_for, analyst):
    response = client_for(analyst).post(UPLOAD, {}, headers={"HX-Request": "true"})

    assertContains(response, '<tr class="upload-result refused"')
    assertContains(response, "This field is required.")


def test_upload_without_csrf_token_is_refused(analyst):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(analyst)
    response = client.post(UPLOAD, {"files": [files.upload("a.txt", b"Text.")]})

    assert response.status_code == 403
    assert not Document.objects.exists()


# The list page


def test_list_shows_documents_and_their_latest_run(client_for, analyst):
    pipeline = make_pipeline()
    document = make_document(analyst, name="supply.txt")
    Run.objects.create(document=document, pipeline=pipeline, status=Run.Status.DONE, steps_done=3, steps_planned=3)
    latest = Run.objects.create(
        document=document, pipeline=pipeline, status=Run.Status.RUNNING, steps_done=2, steps_planned=5
    )
    make_document(name="no-runs.txt", text="Another document.")
    response = client_for(analyst).get(LIST)

    assertContains(response, "supply.txt")
    assertContains(response, "no-runs.txt")
    assertContains(response, "maya")
    assertContains(response, f'<a href="{reverse("orchestrator:run", args=[latest.pk])}" class="badge running">')
    assertContains(response, "2/5 steps")
    assertContains(response, "no run yet")
    assertNotContains(response, "3/3 steps")


def test_list_polls_only_while_a_run_is_unfinished(client_for, analyst):
    pipeline = make_pipeline()
    run = Run.objects.create(document=make_document(), pipeline=pipeline, status=Run.Status.RUNNING)
    client = client_for(analyst)

    assertContains(client.get(LIST), 'hx-trigger="every 2s"')
    partial = client.get(LIST, headers={"HX-Request": "true"})
    assert partial.content.decode().lstrip().startswith('<div id="documents-table"')
    assertContains(partial, 'hx-trigger="every 2s"')

    run.status = Run.Status.DONE
    run.save()
    partial = client.get(LIST, headers={"HX-Request": "true"})
    assertContains(partial, 'class="badge done"')
    assertNotContains(partial, "hx-trigger")


def test_list_queries_do_not_grow_with_documents(client_for, analyst, django_assert_max_num_queries):
    pipeline = make_pipeline()
    client = client_for(analyst)
    for number in range(3):
        document = make_document(analyst, name=f"doc-{number}.txt", text=f"Document {number}.")
        Run.objects.create(document=document, pipeline=pipeline)
    with django_assert_max_num_queries(12) as few:
        client.get(LIST)
    for number in range(3, 20):
        document = make_document(analyst, name=f"doc-{number}.txt", text=f"Document {number}.")
        Run.objects.create(document=document, pipeline=pipeline)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(LIST)
    assertContains(response, "doc-19.txt")


# The detail page and the download


def test_detail_shows_the_facts_the_text_and_the_runs(client_for, analyst):
    pipeline = make_pipeline()
    document = upload_one(client_for(analyst), "supply.pdf", files.text_pdf("Net 90 payment terms.")).document
    run = Run.objects.create(document=document, pipeline=pipeline, status=Run.Status.NEEDS_REVIEW)
    response = client_for(analyst).get(document.get_absolute_url())

    for fact in ["supply.pdf", "PDF", document.sha256, "maya", "Net 90 payment terms.", "Contract review (Debate)"]:
        assertContains(response, fact)
    assertContains(response, f'href="{reverse("documents:download", args=[document.pk])}"')
    assertContains(response, f'href="{reverse("orchestrator:run", args=[run.pk])}"')
    assertContains(response, 'class="badge needs_review"')
    assertContains(response, f'action="{reverse("orchestrator:start", args=[document.pk])}"')


def test_document_text_is_escaped_on_the_page(client_for, analyst):
    hostile = b"Dear <script>alert('x')</script> customer, <b>pay</b> & smile."
    document = upload_one(client_for(analyst), "letter.txt", hostile).document
    response = client_for(analyst).get(document.get_absolute_url())

    assertNotContains(response, "<script>alert")
    assertNotContains(response, "<b>pay</b>")
    assertContains(
        response, "Dear &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; customer, &lt;b&gt;pay&lt;/b&gt; &amp;"
    )


def test_document_name_is_escaped_everywhere(client_for, analyst):
    client = client_for(analyst)
    upload(client, files.upload("<img src=x onerror=alert(1)>.txt", b"Text."))

    for url in [LIST, Document.objects.get().get_absolute_url()]:
        response = client.get(url)
        assertNotContains(response, "<img src=x")
        assertContains(response, "&lt;img src=x")


def test_start_run_form_starts_a_run_and_opens_it(client_for, analyst, queues):
    pipeline = seed_debate_pipeline()
    document = make_document(analyst)
    client = client_for(analyst)
    assertContains(client.get(document.get_absolute_url()), f'<option value="{pipeline.slug}" selected>')

    response = client.post(reverse("orchestrator:start", args=[document.pk]), {"pipeline": pipeline.slug})

    run = Run.objects.get()
    assert (run.document, run.pipeline, run.created_by) == (document, pipeline, analyst)
    assert response["Location"] == reverse("orchestrator:run", args=[run.pk])


def test_download_is_an_attachment(client_for, analyst):
    data = b"<html><body><script>alert(1)</script>Invoice</body></html>"
    document = upload_one(client_for(analyst), "invoice.html", data).document
    response = client_for(analyst).get(reverse("documents:download", args=[document.pk]))

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == data
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == 'attachment; filename="invoice.html"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]


def test_download_filename_is_safely_quoted(client_for, analyst):
    document = make_document(analyst, name='Vertrag "final"\r\nX-Evil: 1 – Müller.txt')
    response = client_for(analyst).get(reverse("documents:download", args=[document.pk]))

    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment; filename*=utf-8''")
    assert "\n" not in disposition and '"final"' not in disposition
    assert "X-Evil" not in response.headers


def test_download_of_a_missing_original_is_not_found(client_for, analyst):
    document = make_document(analyst)
    document.file.storage.delete(document.file.name)
    assert client_for(analyst).get(reverse("documents:download", args=[document.pk])).status_code == 404


def test_deleting_a_document_removes_its_file(settings, django_capture_on_commit_callbacks):
    document = make_document()
    with django_capture_on_commit_callbacks(execute=True):
        document.delete()
    assert stored_files(settings) == []


# Who may see documents


def _document_urls(document: Document) -> list[str]:
    return [
        LIST,
        UPLOAD,
        reverse("documents:detail", args=[document.pk]),
        reverse("documents:download", args=[document.pk]),
    ]


def test_outsider_cannot_open_documents(client_for, outsider):
    client = client_for(outsider)
    document = make_document()
    for url in _document_urls(document):
        assert client.get(url).status_code == 403, url
    response = client.post(UPLOAD, {"files": [files.upload("a.txt", b"Sneaky.")]})
    assert response.status_code == 403
    assert Document.objects.count() == 1


def test_anonymous_visitor_is_sent_to_login(client):
    document = make_document()
    for url in _document_urls(document):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login")), url


@pytest.mark.parametrize("cast", ["analyst", "reviewer", "admin_user"])
def test_analysts_reviewers_and_admins_can_open_documents(client_for, cast, request):
    client = client_for(request.getfixturevalue(cast))
    document = make_document()
    for url in _document_urls(document):
        assert client.get(url).status_code == 200, url


def test_admin_can_inspect_documents(client_for, admin_user):
    document = make_document()
    client = client_for(admin_user)
    assertContains(client.get(reverse("admin:documents_document_changelist")), "contract.txt")
    response = client.get(reverse("admin:documents_document_change", args=[document.pk]))
    assertContains(response, "The supplier shall deliver.")
    assertContains(response, reverse("documents:download", args=[document.pk]))
    assert client.get(reverse("admin:documents_document_add")).status_code == 403


# The samples shipped for the demo


def test_samples_are_read_as_their_kinds():
    kinds = {}
    for name in SAMPLE_NAMES:
        extracted = extract((SAMPLES_DIR / name).read_bytes(), name)
        kinds[name] = (extracted.kind, extracted.page_count)
        assert len(extracted.text) > 1000
    assert kinds == {
        "supplier-agreement-clear-issues.pdf": (Document.Kind.PDF, 2),
        "services-agreement-ambiguous.docx": (Document.Kind.DOCX, None),
        "invoice-acme-2024-117.txt": (Document.Kind.TEXT, None),
    }


def test_samples_say_what_the_demo_relies_on():
    def text(name: str) -> str:
        return " ".join(extract((SAMPLES_DIR / name).read_bytes(), name).text.split())

    contract = text("supplier-agreement-clear-issues.pdf")
    for phrase in [
        "renew automatically for successive 12-month terms",
        "90 days' written notice",
        "shall not be limited",
        "unlimited liability",
        "laws of England and Wales",
        "survive termination or expiry of this Agreement for a period of 5 years",
        "for 24 months after its termination",
        "within 90 days of the date of the invoice (net 90)",
        "interest at 2% per month",
        "only for cause",
    ]:
        assert phrase in contract, phrase
    hedged = text("services-agreement-ambiguous.docx")
    for phrase in [
        "may renew",
        "reasonable notice",
        "Liability may be limited as agreed",
        "will endeavour to keep information confidential",
        "within a reasonable time",
    ]:
        assert phrase in hedged, phrase
    invoice = text("invoice-acme-2024-117.txt")
    for phrase in ["Invoice number: 2024-117", "VAT 20%: 817,49", "Total due EUR: 4.904,94", "net 30 days", "(EUR)"]:
        assert phrase in invoice, phrase


def test_ingesting_the_samples_twice_adds_them_once(settings):
    assert all("added" in line for line in ingest_samples())
    assert all("already present" in line for line in ingest_samples())
    assert Document.objects.count() == 3
    assert len(stored_files(settings)) == 3


def test_ingest_reads_files_from_disk(analyst):
    path = SAMPLES_DIR / "invoice-acme-2024-117.txt"
    with open(path, "rb") as handle:
        ingested = ingest(File(handle, name=path.name), analyst)
    assert ingested.document.original_name == "invoice-acme-2024-117.txt"
    assert ingested.document.size == path.stat().st_size


# The browser: files upload one by one, each with its own row


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_uploads_files_one_by_one_with_a_result_each(live_server, page, analyst, tmp_path):
    (tmp_path / "supply.pdf").write_bytes(files.text_pdf("1. Term. Renews automatically."))
    (tmp_path / "locked.pdf").write_bytes(files.encrypted_pdf())
    (tmp_path / "notes.txt").write_bytes(b"Meeting notes.")
    page.goto(f"{live_server.url}{reverse('login')}")
    page.fill("input[name=username]", analyst.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")

    page.goto(f"{live_server.url}{UPLOAD}")
    page.set_input_files(
        "input[type=file]", [str(tmp_path / name) for name in ("supply.pdf", "locked.pdf", "notes.txt")]
    )
    page.click("button[type=submit]")

    page.locator("tr.upload-result.accepted").nth(1).wait_for()
    page.locator("tr.upload-result.refused").wait_for()
    assert page.url == f"{live_server.url}{UPLOAD}"
    assert page.locator("tr.upload-result").count() == 3
    assert "encrypted: remove the password and upload again" in page.locator("tr.upload-result.refused").inner_text()
    assert page.locator("tr.upload-result.pending").count() == 0
    Path("test-results").mkdir(exist_ok=True)
    page.screenshot(path="test-results/documents-upload.png", full_page=True)
    assert Document.objects.count() == 2

    # The list shows a running run live, and stops asking once it is done.
    supply = Document.objects.get(original_name="supply.pdf")
    run = Run.objects.create(
        document=supply, pipeline=make_pipeline(), status=Run.Status.RUNNING, steps_done=2, steps_planned=5
    )
    page.goto(f"{live_server.url}{LIST}")
    page.locator("a.badge.running").wait_for()
    page.screenshot(path="test-results/documents-list.png", full_page=True)
    Run.objects.filter(pk=run.pk).update(status=Run.Status.DONE, steps_done=5)
    page.locator("a.badge.done").wait_for(timeout=5000)
    assert page.locator("#documents-table[hx-trigger]").count() == 0

    page.click("text=supply.pdf")
    page.locator(".doctext").wait_for()
    assert "1. Term. Renews automatically." in page.locator(".doctext").inner_text()
    page.screenshot(path="test-results/documents-detail.png", full_page=True)
