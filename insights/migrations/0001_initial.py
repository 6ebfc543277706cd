# The labelled sets and evaluations, moved from the orchestrator app (its 0004 made
# their tables, its 0007 let go of them). State only: the orchestrator_* tables and
# their rows stay. The content types follow, so admin history and permissions do too.

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

MOVED = ["labelledset", "labelleddocument", "evaluation", "evaluationrun"]


def _move_content_types(apps, schema_editor, source: str, target: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MOVED:
        # On a fresh database there are none yet: they are made after migrating.
        if not ContentType.objects.filter(app_label=target, model=model).exists():
            ContentType.objects.filter(app_label=source, model=model).update(app_label=target)


def forwards(apps, schema_editor) -> None:
    _move_content_types(apps, schema_editor, "orchestrator", "insights")


def backwards(apps, schema_editor) -> None:
    _move_content_types(apps, schema_editor, "insights", "orchestrator")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("documents", "0001_initial"),
        ("orchestrator", "0007_move_evaluation_to_insights"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="LabelledSet",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"),
                        ),
                        ("name", models.CharField(max_length=200)),
                        ("slug", models.SlugField(unique=True)),
                        ("description", models.TextField(blank=True)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                    ],
                    options={"db_table": "orchestrator_labelledset", "ordering": ["name"]},
                ),
                migrations.CreateModel(
                    name="Evaluation",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"),
                        ),
                        ("group", models.CharField(db_index=True, max_length=40)),
                        (
                            "status",
                            models.CharField(
                                choices=[("running", "Running"), ("complete", "Complete")],
                                default="running",
                                max_length=20,
                            ),
                        ),
                        ("figures", models.JSONField(blank=True, default=dict)),
                        ("created_at", models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                        (
                            "created_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "pipeline",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="evaluations",
                                to="orchestrator.pipeline",
                            ),
                        ),
                        (
                            "labelled_set",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="evaluations",
                                to="insights.labelledset",
                            ),
                        ),
                    ],
                    options={"db_table": "orchestrator_evaluation", "ordering": ["-created_at", "-id"]},
                ),
                migrations.CreateModel(
                    name="LabelledDocument",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"),
                        ),
                        ("expected", models.JSONField()),
                        (
                            "document",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT, related_name="+", to="documents.document"
                            ),
                        ),
                        (
                            "labelled_set",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="documents",
                                to="insights.labelledset",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "orchestrator_labelleddocument",
                        "ordering": ["labelled_set", "id"],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("labelled_set", "document"), name="unique_labelled_document"
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="EvaluationRun",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"),
                        ),
                        (
                            "evaluation",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="runs",
                                to="insights.evaluation",
                            ),
                        ),
                        (
                            "run",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE, related_name="+", to="orchestrator.run"
                            ),
                        ),
                        (
                            "labelled_document",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="insights.labelleddocument",
                            ),
                        ),
                    ],
                    options={"db_table": "orchestrator_evaluationrun", "ordering": ["evaluation", "id"]},
                ),
            ],
        ),
        migrations.RunPython(forwards, backwards),
    ]
