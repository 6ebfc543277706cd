"""The demo Invoice extraction chain (and its Claude twin) reads invoices: a run on a
purchase order, a quotation or a contract says it was not reviewed instead of filling
invoice fields. Only a blank document type (the old seeded value) is changed."""

from django.db import migrations


def chain_reads_invoices(apps, schema_editor):
    Pipeline = apps.get_model("orchestrator", "Pipeline")
    Pipeline.objects.filter(slug__in=["extraction-chain", "extraction-chain-claude"], document_type="").update(
        document_type="invoice"
    )


class Migration(migrations.Migration):
    dependencies = [("orchestrator", "0017_run_pipeline_recent")]

    operations = [migrations.RunPython(chain_reads_invoices, migrations.RunPython.noop)]
