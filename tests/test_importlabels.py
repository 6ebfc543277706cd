"""Importing a labelled set from a file."""

import json

import pytest
from django.core.management import CommandError, call_command

from insights.models import LabelledDocument, LabelledSet
from tests.conftest import CONTRACT


def test_a_csv_set_names_files_next_to_it_and_existing_documents(tmp_path, make_document, capsys):
    existing = make_document("1. Payment. Invoices are payable within 90 days.", name="pay.txt")
    (tmp_path / "contract.txt").write_text(CONTRACT)
    expected = json.dumps({"findings": [{"type": "auto_renewal", "is_issue": True}]})
    (tmp_path / "set.csv").write_text(
        "path,document_id,expected\n"
        f'contract.txt,,"{expected.replace(chr(34), chr(34) * 2)}"\n'
        f',{existing.pk},"{{""findings"": []}}"\n'
    )
    call_command("importlabels", "Contracts", str(tmp_path / "set.csv"))
    labelled = LabelledSet.objects.get()
    rows = {row.document.original_name: row.expected for row in LabelledDocument.objects.select_related("document")}
    assert rows == {"contract.txt": json.loads(expected), "pay.txt": {"findings": []}}
    assert f"manage.py evaluate {labelled.slug}" in capsys.readouterr().out


def test_a_bad_row_imports_nothing(tmp_path, db):
    (tmp_path / "set.json").write_text(json.dumps([{"path": "missing.txt", "expected": {}}]))
    with pytest.raises(CommandError, match="Nothing imported"):
        call_command("importlabels", "Broken", str(tmp_path / "set.json"))
    assert not LabelledSet.objects.exists()
