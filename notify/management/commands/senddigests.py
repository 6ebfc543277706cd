"""Send the daily review digest.

1. Finds active reviewers with an e-mail address who chose the daily digest
   (the default) and whose last digest is about a day old or who never had one.
2. Sends each a list of the items new since their last digest and the overdue ones
   (none when there is nothing to say), through Django's e-mail backend.
3. Notes the time, so running it again (from cron, or the reaper loop every pass)
   sends nobody a second one the same day.
"""

from django.core.management.base import BaseCommand

from notify.digest import send_daily_digests


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, **options):
        sent = send_daily_digests()
        self.stdout.write(f"{sent} digest(s) sent")
