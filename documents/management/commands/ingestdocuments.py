"""Ingest files or folders and start a run on each document.

1. Walks each PATH (folders recursively, hidden files skipped).
2. Ingests every file as the upload page does: refused files are reported with
   their reason, duplicates reuse the existing document.
3. Starts a run of --pipeline on each document; with --batch its Anthropic
   steps go through the Message Batches API at half the price (keeprunsmoving
   submits and polls them; results can take up to a day).
4. With --wait, polls until every run has finished (or is held by the monthly
   budget), prints each run's status, and exits non-zero if any run failed, was
   held or stopped, or any file was refused.
"""

import time
from pathlib import Path

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError

from documents.extraction import ExtractionError
from documents.ingest import ingest
from orchestrator.engine import start_run
from orchestrator.models import Pipeline, Run


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument("--pipeline", required=True, help="pipeline slug, e.g. contract-debate")
        parser.add_argument("--batch", action="store_true", help="send Anthropic steps as message batches")
        parser.add_argument("--wait", action="store_true", help="wait for the runs and report them")
        parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait at most")

    def handle(self, *args, paths: list[Path], pipeline: str, batch: bool, wait: bool, timeout: float, **options):
        try:
            chosen = Pipeline.objects.get(slug=pipeline, is_active=True)
        except Pipeline.DoesNotExist:
            slugs = ", ".join(Pipeline.objects.filter(is_active=True).values_list("slug", flat=True))
            raise CommandError(f"No active pipeline {pipeline!r}. Known: {slugs or 'none'}") from None

        runs, refused = [], 0
        for path in _files(paths):
            try:
                with path.open("rb") as handle:
                    ingested = ingest(File(handle, name=path.name))
            except ExtractionError as error:
                refused += 1
                self.stderr.write(f"refused {path}: {error}")
                continue
            run = start_run(ingested.document, chosen, batch_mode=batch)
            runs.append(run)
            note = " (duplicate of an earlier upload)" if ingested.duplicate else ""
            state = "held: the pipeline's monthly budget is spent" if run.status == Run.Status.HELD else "started"
            self.stdout.write(f"{path}: document {ingested.document.pk}{note}, run {run.pk} {state}")

        if not wait:
            return
        deadline = time.monotonic() + timeout
        pending = {run.pk for run in runs}
        while pending and time.monotonic() < deadline:
            # A held run waits for next month or a raised cap: not for this command.
            finished = Run.objects.filter(pk__in=pending, status__in=[*Run.FINISHED, Run.Status.HELD])
            pending -= set(finished.values_list("pk", flat=True))
            if pending:
                time.sleep(0.5)
        failed = 0
        for run in Run.objects.filter(pk__in=[r.pk for r in runs]).select_related("document").order_by("pk"):
            failed += run.status not in (Run.Status.DONE, Run.Status.NEEDS_REVIEW, Run.Status.REVIEWED)
            detail = f": {run.error}" if run.error else ""
            self.stdout.write(f"run {run.pk} {run.document.original_name}: {run.status}{detail}")
        if failed or refused:
            raise CommandError(f"{failed} run(s) failed, held or unfinished, {refused} file(s) refused")


def _files(paths: list[Path]):
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        elif path.is_file():
            yield path
        else:
            raise CommandError(f"No such file or folder: {path}")
