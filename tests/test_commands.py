"""The operations commands, run as an operator would."""

import pytest
from django.core.management import CommandError, call_command

from orchestrator.models import Run
from tests.conftest import CONTRACT

pytestmark = pytest.mark.django_db(transaction=True)


def test_ingestdocuments_runs_a_folder_and_waits_for_the_results(tmp_path, debate_pipeline, worker, capsys):
    (tmp_path / "contract.txt").write_text(CONTRACT)
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "second.md").write_text("1. Renewal. This Agreement shall automatically renew yearly.")
    call_command("ingestdocuments", str(tmp_path), "--pipeline", "contract-debate", "--wait", "--timeout", "60")
    out = capsys.readouterr().out
    runs = Run.objects.order_by("pk")
    assert runs.count() == 2
    for run in runs:
        assert run.is_finished and run.status != Run.Status.FAILED
        assert f"run {run.pk} {run.document.original_name}: {run.status}" in out


def test_ingestdocuments_reports_refused_files_and_exits_non_zero(tmp_path, debate_pipeline, queues, capsys):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "fake.pdf").write_bytes(b"MZ\x90\x00 not a pdf at all")
    with pytest.raises(CommandError, match="2 file\\(s\\) refused"):
        call_command("ingestdocuments", str(tmp_path), "--pipeline", "contract-debate", "--wait", "--timeout", "5")
    err = capsys.readouterr().err
    assert "empty.txt" in err and "fake.pdf" in err
    assert not Run.objects.exists()


def test_ingestdocuments_names_the_known_pipelines_when_the_slug_is_wrong(tmp_path, debate_pipeline):
    with pytest.raises(CommandError, match="Known: .*contract-debate"):
        call_command("ingestdocuments", str(tmp_path), "--pipeline", "nope")
