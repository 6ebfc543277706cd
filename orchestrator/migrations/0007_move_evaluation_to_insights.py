# The labelled sets and evaluations moved to the insights app (insights 0001). Their
# tables stay as they are, rows and all: this only lets go of them in Django's state.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("orchestrator", "0006_step_price_and_1h_cache"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="EvaluationRun"),
                migrations.DeleteModel(name="Evaluation"),
                migrations.DeleteModel(name="LabelledDocument"),
                migrations.DeleteModel(name="LabelledSet"),
            ],
            database_operations=[],
        ),
    ]
