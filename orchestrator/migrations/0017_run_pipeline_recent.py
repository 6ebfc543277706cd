"""Each pipeline's runs newest first, with their status: the dashboard's days
(insights.days) and the latest finished runs its review load is measured over."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("orchestrator", "0016_run_figures")]

    operations = [
        migrations.AddIndex(
            model_name="run",
            index=models.Index(
                fields=["pipeline", "-created_at", "-id"], include=("status",), name="run_pipeline_recent"
            ),
        ),
    ]
