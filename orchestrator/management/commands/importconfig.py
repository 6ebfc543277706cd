"""Load configuration written by `exportconfig`; running it twice changes nothing.

1. Reads the JSON file.
2. In one transaction: creates or updates model prices (by model), knowledge entries
   (by name), prompts, rubrics, agents and pipelines (by slug).
3. Creates the prompt and rubric versions missing here, by number, and points each
   at the file's active version. An existing version is never rewritten: if its
   text differs from the file's, the import is refused.
4. Replaces each pipeline's slots with the file's, then checks every imported
   pipeline could run (pipeline_problems); if one could not, nothing is saved.
"""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from orchestrator.configuration.transfer import ConfigError, import_config


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)

    def handle(self, *args, file: Path, **options):
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise CommandError(f"Cannot read {file}: {error}") from None
        try:
            counts = import_config(data)
        except ConfigError as error:
            raise CommandError("Nothing was imported:\n- " + "\n- ".join(error.problems)) from None
        except (KeyError, TypeError, AttributeError) as error:
            raise CommandError(f"Nothing was imported: {file} is not a file exportconfig wrote ({error!r}).") from None
        self.stdout.write("Imported " + ", ".join(f"{count} {kind}" for kind, count in counts.items()))
