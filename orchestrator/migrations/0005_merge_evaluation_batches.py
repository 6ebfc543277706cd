# Joins the two 0004s written side by side (batch mode and evaluation); neither
# depends on the other.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("orchestrator", "0004_batches"),
        ("orchestrator", "0004_evaluation"),
    ]

    operations = []
