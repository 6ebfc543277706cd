from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("orchestrator", "0012_rubricversion_policy")]

    operations = [
        migrations.AddField(model_name="step", name="claim", field=models.CharField(blank=True, max_length=40)),
        migrations.AddField(model_name="step", name="worker", field=models.CharField(blank=True, max_length=200)),
    ]
