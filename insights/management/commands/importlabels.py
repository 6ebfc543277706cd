"""Import a labelled set from a CSV or JSON file, for evaluations.

1. Reads FILE: JSON (a list of objects) or CSV (a header row), each row naming a
   document by `document_id` or by a file `path` (ingested like an upload, relative
   paths taken from the file's folder) and its `expected` answer as JSON, e.g.
   {"findings": [{"type": "auto_renewal", "is_issue": true}]} or {"fields": {"total": "4904.94"}}.
2. Creates a new set NAME in one transaction: a bad row saves nothing.
3. Prints how many documents the set now holds and how to evaluate it.
"""

import csv
import json
from pathlib import Path

from django.core.exceptions import ObjectDoesNotExist
from django.core.management.base import BaseCommand, CommandError

from documents.extraction import ExtractionError
from insights.evaluation import import_set


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("name", help="the labelled set's name")
        parser.add_argument("file", type=Path, help="a .json or .csv file")

    def handle(self, *args, name: str, file: Path, **options):
        if not file.is_file():
            raise CommandError(f"No such file: {file}")
        text = file.read_text(encoding="utf-8-sig")
        rows = json.loads(text) if file.suffix.lower() == ".json" else list(csv.DictReader(text.splitlines()))
        for row in rows:
            if row.get("path") and not Path(row["path"]).is_absolute():
                row["path"] = str(file.parent / row["path"])
        try:
            labelled_set = import_set(name, rows)
        except (KeyError, ValueError, OSError, ObjectDoesNotExist, ExtractionError) as error:
            raise CommandError(f"Nothing imported: {error}") from None
        count = labelled_set.documents.count()
        self.stdout.write(
            f"{labelled_set.name} ({labelled_set.slug}): {count} document(s). "
            f"Evaluate with: manage.py evaluate {labelled_set.slug} --pipeline SLUG --wait"
        )
