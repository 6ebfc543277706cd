"""Write the configuration admins edit to JSON, to move it to another installation.

1. Reads prompts and rubrics with every version (and which one is active), agents,
   pipelines with their slots, knowledge base entries and model prices.
2. Writes them as one JSON document to --output FILE, or to standard output.
Runs, steps and documents are not configuration and are left out.
"""

import json
from pathlib import Path

from django.core.management.base import BaseCommand
from django.core.serializers.json import DjangoJSONEncoder

from orchestrator.configuration.transfer import export_config


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--output", "-o", type=Path, help="file to write (default: standard output)")

    def handle(self, *args, output: Path | None, **options):
        text = json.dumps(export_config(), cls=DjangoJSONEncoder, indent=2, ensure_ascii=False) + "\n"
        if output is None:
            self.stdout.write(text, ending="")
            return
        output.write_text(text, encoding="utf-8")
        self.stderr.write(f"Wrote {output}")
