"""Trace retention: raw requests, replies and attempts past their pipeline's
retention move out of PostgreSQL into one gzip'd JSONL file per day.

A step's raw trace is what makes it heavy (15 kB on a real contract, 15 GB per
million steps) and what nobody reads after the first weeks; its output, cost,
tokens and the run's findings are what reports and reviews read, so they stay in
the row forever. The archive is written (and flushed to disk) before the rows are
cleared, so a crash in between leaves the trace in both places, never in neither;
a step archived twice has two lines, and the last one is read back.
"""

import gzip
import json
import os
from datetime import date, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from orchestrator.models import Pipeline, Run, Step

# The fields that move to the archive; everything else stays in the row.
RAW_FIELDS = ("request", "raw_response", "attempts")
EMPTY = {"request": None, "raw_response": "", "attempts": []}
BATCH = 500


class UnderReview(Exception):
    """The run still has findings waiting for a reviewer, who reads its raw trace."""


def day_file(day: date) -> Path:
    return Path(settings.ARCHIVE_DIR) / f"steps-{day.isoformat()}.jsonl.gz"


def under_review(run: Run) -> bool:
    from review.models import ReviewItem

    return run.status == Run.Status.NEEDS_REVIEW or ReviewItem.objects.filter(run=run).pending().exists()


def _archivable(now: datetime):
    """Finished steps of finished runs past their pipeline's retention, not yet
    archived, in runs no reviewer is still looking at."""
    from review.models import ReviewItem

    pending = ReviewItem.objects.filter(run=OuterRef("run")).pending()
    steps = Step.objects.none()
    for pipeline in Pipeline.objects.exclude(trace_retention_days=None):
        cutoff = now - timedelta(days=pipeline.trace_retention_days)
        steps = steps | Step.objects.filter(run__pipeline=pipeline, finished_at__lt=cutoff)
    return (
        steps.filter(archived_on=None, status__in=[Step.Status.SUCCEEDED, Step.Status.FAILED])
        .filter(run__status__in=Run.FINISHED)
        .exclude(run__status=Run.Status.NEEDS_REVIEW)
        .filter(~Exists(pending))
    )


def _write(steps: list[Step], today: date) -> None:
    """Append the steps' raw traces to their days' files (a gzip member per call:
    concatenated members read back as one stream) and flush them to disk."""
    by_day: dict[date, list[str]] = {}
    for step in steps:
        day = timezone.localdate(step.finished_at) if step.finished_at else today
        line = {"step": step.pk, "run": step.run_id, "key": step.key, **{f: getattr(step, f) for f in RAW_FIELDS}}
        by_day.setdefault(day, []).append(json.dumps(line, separators=(",", ":")))
    folder = Path(settings.ARCHIVE_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    for day, lines in by_day.items():
        with open(day_file(day), "ab") as raw:
            with gzip.GzipFile(fileobj=raw, mode="ab", compresslevel=6) as archive:
                archive.write(("\n".join(lines) + "\n").encode())
            raw.flush()
            os.fsync(raw.fileno())
    for step in steps:
        step.archived_on = timezone.localdate(step.finished_at) if step.finished_at else today


def _archive(queryset) -> int:
    today = timezone.localdate()
    done = 0
    while True:
        with transaction.atomic():
            steps = list(queryset.select_for_update(skip_locked=True, of=("self",)).only(
                "id", "run_id", "key", "finished_at", *RAW_FIELDS)[:BATCH])  # fmt: skip
            if not steps:
                return done
            _write(steps, today)
            by_day: dict[date, list[int]] = {}
            for step in steps:
                by_day.setdefault(step.archived_on, []).append(step.pk)
            for day, ids in by_day.items():  # one UPDATE a day file, not one a row
                Step.objects.filter(pk__in=ids).update(**EMPTY, archived_on=day)
            done += len(steps)


def archive_traces(now: datetime | None = None) -> int:
    """Archive every step past its pipeline's retention; returns how many."""
    return _archive(_archivable(now or timezone.now()))


def archive_run(run: Run) -> int:
    """Archive every finished step of one finished run now, whatever the retention
    (an admin's explicit request). Refused while the run is under review."""
    if under_review(run):
        raise UnderReview(f"Run {run.pk} is under review: its raw trace stays until the reviewers are done.")
    if not run.is_finished:
        raise UnderReview(f"Run {run.pk} has not finished.")
    return _archive(
        Step.objects.filter(run=run, archived_on=None, status__in=[Step.Status.SUCCEEDED, Step.Status.FAILED])
    )


def read_archived(step: Step) -> dict | None:
    """The step's raw trace from its day file ({"request", "raw_response",
    "attempts"}), or None when it is not (or no longer) there."""
    if not step.archived_on:
        return None
    path = day_file(step.archived_on)
    if not path.exists():
        return None
    marker = f'{{"step":{step.pk},'.encode()
    found = None
    with gzip.open(path, "rb") as archive:
        for line in archive:
            if line.startswith(marker):
                found = line  # the last line wins: a step archived twice
    if found is None:
        return None
    record = json.loads(found)
    return {field: record[field] for field in RAW_FIELDS}


def archive_daily(now: datetime | None = None) -> int | None:
    """What the reaper calls every pass: archives once a calendar day (a stamp file
    in ARCHIVE_DIR remembers the last day), None on the other passes."""
    now = now or timezone.now()
    stamp = Path(settings.ARCHIVE_DIR) / ".last-run"
    today = timezone.localdate(now).isoformat()
    if stamp.exists() and stamp.read_text().strip() == today:
        return None
    # Most deployments set no retention: one cheap query, then nothing to do.
    retained = Pipeline.objects.exclude(trace_retention_days=None).exists()
    archived = archive_traces(now) if retained else 0
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(today)
    return archived
