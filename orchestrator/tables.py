import django_tables2 as tables
from django.utils.html import format_html

from .models import Run


class RunTable(tables.Table):
    # The columns the table reads (its links and badges included): the runs list loads no others.
    FIELDS = (
        "id", "status", "not_reviewed", "steps_done", "steps_planned", "cost", "created_at",
        "document", "document__original_name", "pipeline", "pipeline__slug", "pipeline__name",
    )  # fmt: skip

    id = tables.Column(linkify=True, verbose_name="Run")
    document = tables.Column(linkify=lambda record: record.document.get_absolute_url())
    pipeline = tables.Column(linkify=True)
    status = tables.Column()
    progress = tables.Column(empty_values=(), orderable=False, verbose_name="Steps")
    cost = tables.Column(attrs={"td": {"class": "num"}})
    created_at = tables.DateTimeColumn(verbose_name="Started", format="Y-m-d H:i")

    class Meta:
        model = Run
        fields = ["id", "document", "pipeline", "status", "progress", "cost", "created_at"]
        attrs = {"class": "runs"}
        order_by = "-created_at"

    def render_status(self, record: Run):
        if record.not_reviewed:
            return format_html(
                '<span class="badge {}">{}</span> <span class="small warn">{}</span>',
                record.shown_status_class,
                record.shown_status,
                record.not_reviewed,
            )
        return format_html('<span class="badge {}">{}</span>', record.shown_status_class, record.shown_status)

    def render_progress(self, record: Run):
        return f"{record.steps_done} / {record.steps_planned or '?'}"

    def render_cost(self, value):
        return f"${value:.4f}"
