"""Archive raw step traces past their pipeline's retention.

1. Picks finished steps of finished runs whose pipeline sets a trace retention
   (Pipeline.trace_retention_days, set in the admin) and that finished longer ago
   than it; runs still under review (needs review, or a finding waiting for a
   reviewer) are left as they are.
2. Appends each step's raw request, reply and attempts to the gzip'd JSONL file of
   the day it finished (ARCHIVE_DIR/steps-YYYY-MM-DD.jsonl.gz) and flushes it to disk.
3. Clears those fields in the rows and notes the day file on each step; outputs,
   costs, tokens and findings stay in the database forever. The step page reads an
   archived trace back from its day file when asked.
With --run N it archives one finished run now, whatever its pipeline's retention,
and refuses a run under review. The reaper (keeprunsmoving) runs step 1-3 once a day.
"""

from django.core.management.base import BaseCommand, CommandError

from orchestrator.models import Run
from orchestrator.runs.archive import UnderReview, archive_run, archive_traces


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--run", type=int, help="archive this finished run's steps now")

    def handle(self, *args, run: int | None = None, **options):
        if run is not None:
            try:
                archived = archive_run(Run.objects.get(pk=run))
            except Run.DoesNotExist as error:
                raise CommandError(f"No run {run}.") from error
            except UnderReview as error:
                raise CommandError(str(error)) from error
        else:
            archived = archive_traces()
        self.stdout.write(f"{archived} step(s) archived")
