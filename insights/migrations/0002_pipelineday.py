"""PipelineDay: each pipeline's dashboard figures per day, worked out by
insights.days.fold() for the (pipeline, instant) changes that triggers on runs,
review items and decisions queue in PipelineDayChange. Every existing run and
decision is queued here, so the first fold (the reaper's next tick) fills the table;
until then the dashboard works the queued days out itself."""

import django.db.models.deletion
from django.db import migrations, models

# Quarter hours keep the queue short under bulk inserts, and a quarter hour never
# straddles two local days in any time zone (offsets are whole quarter hours).
_QUARTER = "date_bin('15 minutes', {0}, timestamptz '2000-01-01 00:00:00+00')"

CREATE = f"""
-- Runs: created (or deleted) by a statement, as a set.
CREATE FUNCTION insights_pipelineday_runs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO insights_pipelinedaychange (pipeline_id, at)
    SELECT DISTINCT pipeline_id, {_QUARTER.format("created_at")} FROM changed;
    RETURN NULL;
END $$;

-- A run whose counted columns changed: its day before and after.
CREATE FUNCTION insights_pipelineday_run_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO insights_pipelinedaychange (pipeline_id, at)
    SELECT DISTINCT pipeline_id, at FROM (VALUES (OLD.pipeline_id, OLD.created_at), (NEW.pipeline_id, NEW.created_at))
        AS change(pipeline_id, at);
    RETURN NULL;
END $$;

-- Decisions (append-only): the new one's day, and the day of the one it supersedes.
CREATE FUNCTION insights_pipelineday_decisions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO insights_pipelinedaychange (pipeline_id, at)
    SELECT DISTINCT run.pipeline_id, decision.created_at
    FROM (SELECT item_id, created_at FROM added
          UNION ALL
          SELECT earlier.item_id, earlier.created_at FROM added JOIN review_decision earlier ON earlier.id = added.supersedes_id
         ) decision
    JOIN review_reviewitem item ON item.id = decision.item_id
    JOIN orchestrator_run run ON run.id = item.run_id;
    RETURN NULL;
END $$;

-- An item whose reason changed (only disagreements count): the days of its decisions.
CREATE FUNCTION insights_pipelineday_item_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO insights_pipelinedaychange (pipeline_id, at)
    SELECT DISTINCT run.pipeline_id, decision.created_at
    FROM review_decision decision JOIN orchestrator_run run ON run.id IN (OLD.run_id, NEW.run_id)
    WHERE decision.item_id = NEW.id;
    RETURN NULL;
END $$;

CREATE TRIGGER insights_pipelineday_run_insert AFTER INSERT ON orchestrator_run
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION insights_pipelineday_runs();
CREATE TRIGGER insights_pipelineday_run_delete AFTER DELETE ON orchestrator_run
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION insights_pipelineday_runs();
CREATE TRIGGER insights_pipelineday_run_update AFTER UPDATE ON orchestrator_run FOR EACH ROW
    WHEN (OLD.pipeline_id IS DISTINCT FROM NEW.pipeline_id OR OLD.created_at IS DISTINCT FROM NEW.created_at
          OR OLD.status IS DISTINCT FROM NEW.status OR OLD.cost IS DISTINCT FROM NEW.cost
          OR OLD.started_at IS DISTINCT FROM NEW.started_at OR OLD.finished_at IS DISTINCT FROM NEW.finished_at
          OR OLD.agreed_count IS DISTINCT FROM NEW.agreed_count
          OR OLD.disputed_count IS DISTINCT FROM NEW.disputed_count)
    EXECUTE FUNCTION insights_pipelineday_run_updated();
CREATE TRIGGER insights_pipelineday_decision_insert AFTER INSERT ON review_decision
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION insights_pipelineday_decisions();
CREATE TRIGGER insights_pipelineday_item_update AFTER UPDATE ON review_reviewitem FOR EACH ROW
    WHEN (OLD.reason IS DISTINCT FROM NEW.reason OR OLD.run_id IS DISTINCT FROM NEW.run_id)
    EXECUTE FUNCTION insights_pipelineday_item_updated();

-- Everything already there (the triggers' locks hold writers off until this commits).
INSERT INTO insights_pipelinedaychange (pipeline_id, at)
SELECT pipeline_id, {_QUARTER.format("created_at")} FROM orchestrator_run
UNION
SELECT run.pipeline_id, {_QUARTER.format("decision.created_at")}
FROM review_decision decision JOIN review_reviewitem item ON item.id = decision.item_id
JOIN orchestrator_run run ON run.id = item.run_id;
"""

DROP = """
DROP TRIGGER insights_pipelineday_item_update ON review_reviewitem;
DROP TRIGGER insights_pipelineday_decision_insert ON review_decision;
DROP TRIGGER insights_pipelineday_run_update ON orchestrator_run;
DROP TRIGGER insights_pipelineday_run_delete ON orchestrator_run;
DROP TRIGGER insights_pipelineday_run_insert ON orchestrator_run;
DROP FUNCTION insights_pipelineday_item_updated();
DROP FUNCTION insights_pipelineday_decisions();
DROP FUNCTION insights_pipelineday_run_updated();
DROP FUNCTION insights_pipelineday_runs();
"""


class Migration(migrations.Migration):

    dependencies = [
        ('insights', '0001_initial'),
        ('orchestrator', '0017_run_pipeline_recent'),
        ('review', '0007_four_eyes'),
    ]

    operations = [
        migrations.CreateModel(
            name='PipelineDay',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('zone', models.CharField(max_length=64)),
                ('day', models.DateField()),
                ('runs', models.IntegerField(default=0)),
                ('spend', models.DecimalField(decimal_places=6, default=0, max_digits=18)),
                ('failed', models.IntegerField(default=0)),
                ('finished', models.IntegerField(default=0)),
                ('p50_s', models.FloatField(null=True)),
                ('p95_s', models.FloatField(null=True)),
                ('agreed', models.BigIntegerField(default=0)),
                ('disputed', models.BigIntegerField(default=0)),
                ('decisions', models.IntegerField(default=0)),
                ('overturned', models.IntegerField(default=0)),
                ('pipeline', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='orchestrator.pipeline')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('zone', 'pipeline', 'day'), name='one_pipeline_day_per_zone')],
            },
        ),
        migrations.CreateModel(
            name='PipelineDayChange',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('at', models.DateTimeField()),
                ('pipeline', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='orchestrator.pipeline')),
            ],
            options={
                'indexes': [models.Index(fields=['pipeline', 'at'], name='pipeline_day_change')],
            },
        ),
        migrations.RunSQL(CREATE, DROP),
    ]
