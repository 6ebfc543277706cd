"""Sample documents shipped with Quorum for the demo: a contract with clear
issues (PDF), one with hedged, ambiguous clauses (DOCX) and an invoice (text).
make_samples.py wrote them; ingest_samples() loads them like any upload."""

from pathlib import Path

from django.core.files import File

from documents.ingest import ingest

SAMPLES_DIR = Path(__file__).resolve().parent
SAMPLE_NAMES = [
    "supplier-agreement-clear-issues.pdf",
    "services-agreement-ambiguous.docx",
    "invoice-acme-2024-117.txt",
]


def ingest_samples(user=None) -> list[str]:
    """Ingest every sample (a second call finds them as duplicates) and say
    what happened to each, one line per file."""
    lines = []
    for name in SAMPLE_NAMES:
        with open(SAMPLES_DIR / name, "rb") as handle:
            ingested = ingest(File(handle, name=name), user)
        state = "already present" if ingested.duplicate else "added"
        lines.append(f"{name}: {state} as document {ingested.document.pk}")
    return lines
