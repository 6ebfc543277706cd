"""Seed the demo data, idempotently.

1. Creates the groups analyst, reviewer and admin.
2. Creates the users analyst, reviewer and admin (once), with the password in
   QUORUM_DEMO_PASSWORD or a generated one, printed now and kept in
   var/demo-credentials.txt (readable by the owner only).
3. Seeds model prices, the knowledge base and the demo pipelines (contract-debate,
   document-supervisor, contract-supervisor, extraction-chain); with
   ANTHROPIC_API_KEY set, their Claude twins too (<slug>-claude).
4. Ingests the sample documents shipped in documents/samples/.
"""

import os

from django.core.management.base import BaseCommand

from orchestrator.demo.seed import credentials_file, seed_all


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, **options):
        created = seed_all(os.environ.get("QUORUM_DEMO_PASSWORD") or None)
        path = credentials_file()
        if created:
            lines = [f"{username}: {password}" for username, password in created.items()]
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a") as handle:
                handle.write("\n".join(lines) + "\n")
            path.chmod(0o600)
            self.stdout.write("Demo users created (this is the only time the passwords are printed):")
            for line in lines:
                self.stdout.write(f"  {line}")
            self.stdout.write(f"  (also kept in {path})")
        elif path.exists():
            self.stdout.write(f"Demo users exist; their passwords are in {path}.")
        else:
            self.stdout.write("Demo users exist (passwords set from QUORUM_DEMO_PASSWORD or earlier).")
        self._ingest_samples()

    def _ingest_samples(self):
        try:
            from documents.samples import ingest_samples
        except ImportError:
            return
        for line in ingest_samples():
            self.stdout.write(f"  sample: {line}")
