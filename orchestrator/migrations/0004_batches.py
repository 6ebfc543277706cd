# Written by hand: makemigrations would also pick up the evaluation models (0004_evaluation).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("orchestrator", "0003_budgets"),
    ]

    operations = [
        migrations.AddField(
            model_name="run",
            name="batch_mode",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="step",
            name="batch_id",
            field=models.CharField(blank=True, db_index=True, max_length=100),
        ),
        migrations.AlterField(
            model_name="step",
            name="status",
            field=models.CharField(
                choices=[
                    ("queued", "Queued"),
                    ("running", "Running"),
                    ("batched", "Batched"),
                    ("succeeded", "Succeeded"),
                    ("failed", "Failed"),
                ],
                db_index=True,
                default="queued",
                max_length=20,
            ),
        ),
    ]
