"""Keep runs moving: the reaper `make run` starts beside the workers.

1. Finds steps still queued or running in PostgreSQL (the source of truth) and
   asks Redis about each one's job, once per pass for all those waiting in a
   queue (one read of each queue list). A queued step is lost only when its job
   is gone (a wiped Redis); a running step only when its job's heartbeat stopped
   (a killed worker). A step merely waiting in a long queue is never touched.
2. Puts each lost step back on its queue under a new job id (and a cleared claim,
   so the lost execution can save nothing should it still be alive); a step lost
   QUORUM_STEP_MAX_LOSSES times fails, and its run with it.
3. Re-advances runs whose steps are all finished but which are not (an advance()
   that failed on a database error or a bug leaves such a run behind).
4. Starts runs held for their pipeline's monthly budget once it is under its cap
   again (the month turned, or an admin raised the cap).
5. Sends the batched steps of runs in batch mode as one Message Batch, and reads
   every batch that has ended, settling its steps and advancing their runs; steps
   stranded while "submitting" (the process died before the batch id was stored)
   go back to pending.
6. Once a day, archives raw traces past their pipeline's retention (archivetraces).
7. Enqueues deferred jobs (steps over their rate limit, webhook retries) that
   RQ's scheduler left overdue: the worker holding its lock died.
8. Folds the spend differences the step triggers appended (StepSpend.fold), so the
   spend page and the monthly budget read one row per pipeline and quarter hour.
9. Reads again documents still "extracting" whose extraction job was lost (gone
   from Redis, or its worker's heartbeat stopped), as step 1 does for steps; one
   only waiting in the queue, or being read, is never touched. A document lost
   QUORUM_EXTRACTION_MAX_LOSSES times fails with the reason.
10. Works out again the dashboard's days (insights.days.fold) and review-load entries
    (review.load.fold) that changes to runs, items and decisions queued, so the
    dashboard reads its roll-ups instead of working those out on every view.
Each of these is its own pass: an error in one (a database restart, a bug) is
logged and the others, and the next tick, go on. With --every N it repeats every
N seconds (the `make run` launcher does this). `requeuestuck`, its old name, is
kept as an alias.
"""

import logging
import time

from django.core.management.base import BaseCommand
from django.db import connections

from documents.jobs import requeue_lost_extractions
from documents.models import Document
from insights import days
from orchestrator import jobs
from orchestrator.engine import readvance_finished_runs, release_held_runs, requeue_stuck
from orchestrator.models import StepSpend
from orchestrator.runs import archive, batches
from review import load

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--every", type=float, default=0, help="repeat every N seconds")
        parser.add_argument("--passes", type=int, default=0, help="with --every, stop after N ticks (0: never)")

    def handle(self, *args, every: float, passes: int, **options):
        tick = 0
        while True:
            tick += 1
            requeued = self._pass("requeue lost steps", requeue_stuck) or []
            for step in requeued:
                self.stdout.write(f"requeued run={step.run_id} step={step.pk} key={step.key}")
            for run in self._pass("re-advance finished runs", readvance_finished_runs) or []:
                self.stdout.write(f"re-advanced run={run}")
            for run in self._pass("release held runs", release_held_runs) or []:
                self.stdout.write(f"released held run={run.pk} pipeline={run.pipeline.slug}")
            if recovered := self._pass("recover stranded batches", batches.recover_submitting):
                self.stdout.write(f"{recovered} step(s) stranded while submitting a batch are pending again")
            if submitted := self._pass("submit batches", batches.submit_pending):
                self.stdout.write(f"submitted {submitted} step(s) in a message batch")
            if settled := self._pass("poll batches", batches.poll):
                self.stdout.write(f"settled {settled} step(s) from message batches")
            if archived := self._pass("archive raw traces", archive.archive_daily):
                self.stdout.write(f"archived the raw traces of {archived} step(s)")
            if overdue := self._pass("enqueue overdue deferred jobs", jobs.enqueue_overdue):
                self.stdout.write(f"enqueued {overdue} deferred job(s) no scheduler had enqueued")
            self._pass("fold spend sums", StepSpend.fold)
            for document in self._pass("requeue lost extractions", requeue_lost_extractions) or []:
                if document.status == Document.Status.FAILED:
                    self.stdout.write(f"failed document={document.pk}: its extraction was lost too often")
                else:
                    self.stdout.write(f"requeued the extraction of document={document.pk}")
            self._pass("fold dashboard days", days.fold)
            self._pass("fold review load", load.fold)
            if not every:
                self.stdout.write(f"{len(requeued)} step(s) requeued")
                return
            if passes and tick >= passes:
                return
            time.sleep(every)

    def _pass(self, name: str, function):
        """Run one pass; on any error log it, drop the database connections (a
        restarted server leaves them broken) and go on."""
        try:
            return function()
        except Exception as error:  # noqa: BLE001 - the reaper must outlive any one failure
            log.exception("keeprunsmoving: %s failed; going on", name)
            self.stderr.write(f"{name} failed: {error!r}")
            for connection in connections.all():
                connection.close_if_unusable_or_obsolete()
                if not connection.in_atomic_block:
                    connection.close()
            return None
