import django_tables2 as tables
from django.template.defaultfilters import filesizeformat
from django.template.loader import render_to_string
from django.utils.html import format_html

from .models import Document


class DocumentTable(tables.Table):
    original_name = tables.Column(linkify=True, verbose_name="Name")
    # Rendered for every row: a document not read yet has no kind, and says so (render_kind).
    kind = tables.Column(empty_values=())
    page_count = tables.Column(verbose_name="Pages", attrs={"td": {"class": "num"}, "th": {"class": "num"}})
    size = tables.Column(attrs={"td": {"class": "num"}, "th": {"class": "num"}})
    uploaded_by = tables.Column(order_by="uploaded_by__username")
    created_at = tables.DateTimeColumn(verbose_name="Uploaded", format="Y-m-d H:i")
    # Read from the view's prefetch (one query for the page), not Document.latest_run() (one per row).
    # Runs waiting for a reviewer, failed or not reviewed come first: what someone must look at.
    attention = tables.Column(
        empty_values=(), verbose_name="Needs attention", attrs={"td": {"data-testid": "attention"}}
    )
    latest_run = tables.Column(accessor="latest_runs", empty_values=(), orderable=False, verbose_name="Latest run")

    class Meta:
        model = Document
        fields = ["original_name", "attention", "kind", "page_count", "size", "uploaded_by", "created_at", "latest_run"]
        attrs = {"class": "documents"}
        order_by = ("-attention", "-created_at")
        empty_text = "No documents yet: upload some to get started."

    def render_kind(self, value: str, record: Document) -> str:
        if record.status == Document.Status.FAILED:
            # Say why beside the badge: an uploader should not have to open the document to learn it.
            return format_html(
                '<span class="badge failed">{}</span> <span class="small error">{}</span>',
                record.get_status_display(),
                record.error,
            )
        if record.status != Document.Status.READY:
            # Not read yet, or unreadable: say so rather than show a blank kind.
            return format_html('<span class="badge {}">{}</span>', record.status, record.get_status_display())
        return record.get_kind_display()

    def render_size(self, value: int) -> str:
        return filesizeformat(value)

    def render_attention(self, record: Document) -> str:
        return render_to_string("documents/list.html#attention-cell", {"document": record})

    def render_latest_run(self, value: list) -> str:
        return render_to_string("documents/list.html#run-cell", {"run": value[0] if value else None})
