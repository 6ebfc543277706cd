from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("orchestrator", "0013_step_claim_worker")]

    operations = [
        migrations.CreateModel(
            name="ProviderLimit",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("provider", models.CharField(max_length=20)),
                (
                    "model",
                    models.CharField(blank=True, help_text="Blank: every model of this provider", max_length=100),
                ),
                (
                    "max_concurrent",
                    models.PositiveIntegerField(blank=True, help_text="Calls in flight at once", null=True),
                ),
                ("requests_per_minute", models.PositiveIntegerField(blank=True, null=True)),
                (
                    "tokens_per_minute",
                    models.PositiveIntegerField(
                        blank=True, help_text="Input plus output tokens, estimated before each call", null=True
                    ),
                ),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("provider", "model"), name="unique_provider_limit")]
            },
        ),
    ]
