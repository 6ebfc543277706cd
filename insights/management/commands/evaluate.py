"""Run pipelines over a labelled set and compare them.

1. Finds the labelled set by slug and each --pipeline by slug.
2. Starts one evaluation per pipeline, together (one run per labelled document each).
3. Without --wait, prints the evaluations' ids and returns: the report page
   (/evaluations/<id>/) fills in as the runs finish.
4. With --wait, polls until every run has finished, then prints the side-by-side
   table: accuracy, precision, recall, F1, dollars and latency per document, and
   the advocates' disagreement rate.
"""

import time

from django.core.management.base import BaseCommand, CommandError

from insights import evaluation
from insights.models import LabelledSet
from orchestrator.models import Pipeline

COLUMNS = [
    "pipeline", "docs", "accuracy", "precision", "recall", "F1", "$/doc", "latency/doc", "disagreement", "items/doc",
    "judge-agreement",
]  # fmt: skip


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("set_slug", metavar="SET", help="the labelled set's slug")
        parser.add_argument("--pipeline", action="append", required=True, help="a pipeline slug; repeat to compare")
        parser.add_argument("--wait", action="store_true", help="wait for the runs and print the table")
        parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait at most")

    def handle(self, *args, set_slug: str, pipeline: list[str], wait: bool, timeout: float, **options):
        try:
            labelled_set = LabelledSet.objects.get(slug=set_slug)
        except LabelledSet.DoesNotExist:
            raise CommandError(f"No labelled set {set_slug!r}.") from None
        pipelines = list(Pipeline.objects.filter(slug__in=pipeline))
        if missing := _missing(pipeline, pipelines):
            raise CommandError(f"No pipeline {', '.join(missing)}.")
        pipelines.sort(key=lambda found: pipeline.index(found.slug))
        started = evaluation.start_evaluations(labelled_set, pipelines)
        for item in started:
            self.stdout.write(f"started evaluation={item.pk} pipeline={item.pipeline.slug} docs={item.runs.count()}")
        if not wait:
            return
        deadline = time.monotonic() + timeout
        while not all(evaluation.complete_if_finished(item) for item in started):
            if time.monotonic() > deadline:
                raise CommandError("Timed out waiting for the runs; the report page will show them when done.")
            time.sleep(0.5)
        self.stdout.write(format_table(evaluation.side_by_side(started)))


def _missing(slugs: list[str], found: list[Pipeline]) -> list[str]:
    return [slug for slug in slugs if slug not in {pipeline.slug for pipeline in found}]


def format_table(rows: list[dict]) -> str:
    lines = [COLUMNS]
    for row in rows:
        lines.append(
            [
                row["pipeline"].slug,
                str(row["docs"]),
                _share(row["accuracy"]),
                _share(row["precision"]),
                _share(row["recall"]),
                _share(row["f1"]),
                "–" if row["cost_per_doc"] is None else f"${row['cost_per_doc']:.4f}",
                "–" if row["latency_ms_per_doc"] is None else f"{row['latency_ms_per_doc']} ms",
                _share(row["disagreement_rate"]),
                _share(row.get("review_items_per_doc")),
                _share(row.get("reviewer_agreed_with_judge")),
            ]
        )
    widths = [max(len(line[index]) for line in lines) for index in range(len(COLUMNS))]
    padded = ("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) for line in lines)
    return "\n".join(line.rstrip() for line in padded)


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"
