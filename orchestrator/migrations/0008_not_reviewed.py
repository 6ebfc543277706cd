from django.db import migrations, models


def contracts_only(apps, schema_editor):
    """The seeded contract pipelines review contracts: say so on installs seeded before."""
    Pipeline = apps.get_model("orchestrator", "Pipeline")
    Pipeline.objects.filter(slug__in=["contract-debate", "contract-supervisor"], document_type="").update(
        document_type="contract"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("orchestrator", "0007_move_evaluation_to_insights"),
    ]

    operations = [
        migrations.AddField(
            model_name="pipeline",
            name="document_type",
            field=models.CharField(
                blank=True,
                help_text="The kind of document this pipeline reviews (contract, invoice, ...). A run on a document "
                "that does not look like one says it was not reviewed. Empty: any document.",
                max_length=40,
            ),
        ),
        migrations.AddField(
            model_name="run",
            name="not_reviewed",
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.RunPython(contracts_only, migrations.RunPython.noop),
    ]
