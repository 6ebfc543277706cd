"""Keep runs moving: the reaper `make run` starts beside the workers.

1. Finds steps still queued or running in PostgreSQL (the source of truth).
2. Asks Redis about each one's job: gone, failed or stopped (a killed worker,
   a restarted Redis), or running past the agent's timeout, means lost.
3. Puts each lost step back on its queue under a new job id; a step lost three
   times fails, and its run with it.
4. Starts runs held for their pipeline's monthly budget once it is under its cap
   again (the month turned, or an admin raised the cap).
5. Sends the batched steps of runs in batch mode as one Message Batch, and reads
   every batch that has ended, settling its steps and advancing their runs
   (batched steps wait on their batch, not on a job, so step 1 leaves them be).
6. Once a day, archives raw traces past their pipeline's retention (archivetraces).
With --every N it repeats every N seconds (the `make run` launcher does this).
`requeuestuck`, its old name, is kept as an alias.
"""

import time

from django.core.management.base import BaseCommand

from orchestrator.engine import release_held_runs, requeue_stuck
from orchestrator.runs import archive, batches


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--every", type=float, default=0, help="repeat every N seconds")

    def handle(self, *args, every: float, **options):
        while True:
            requeued = requeue_stuck()
            for step in requeued:
                self.stdout.write(f"requeued run={step.run_id} step={step.pk} key={step.key}")
            for run in release_held_runs():
                self.stdout.write(f"released held run={run.pk} pipeline={run.pipeline.slug}")
            if submitted := batches.submit_pending():
                self.stdout.write(f"submitted {submitted} step(s) in a message batch")
            if settled := batches.poll():
                self.stdout.write(f"settled {settled} step(s) from message batches")
            if archived := archive.archive_daily():
                self.stdout.write(f"archived the raw traces of {archived} step(s)")
            if not every:
                self.stdout.write(f"{len(requeued)} step(s) requeued")
                return
            time.sleep(every)
