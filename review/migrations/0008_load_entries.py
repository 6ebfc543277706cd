"""LoadEntry: what each (pipeline, document)'s finished runs bring to the pipeline's
review load, worked out by review.load.fold() for the pairs that triggers on runs,
review links, items and decisions queue in LoadChange. Every pair that has runs is
queued here, so the first fold (the reaper's next tick) fills the table; until then
readers work the queued pairs out themselves."""

import django.db.models.deletion
from django.db import migrations, models

CREATE = """
-- Queue the pairs of `runs` and of every run above them (a nested run is part of the
-- family of the run whose step started it, at any depth).
CREATE FUNCTION review_load_queue(runs bigint[]) RETURNS void LANGUAGE sql AS $$
    WITH RECURSIVE up(id) AS (
        SELECT unnest(runs)
        UNION
        SELECT step.run_id FROM up JOIN orchestrator_run run ON run.id = up.id
        JOIN orchestrator_step step ON step.id = run.parent_step_id
    )
    INSERT INTO review_loadchange (pipeline_id, document_id)
    SELECT DISTINCT run.pipeline_id, run.document_id FROM up JOIN orchestrator_run run ON run.id = up.id
$$;

-- Runs inserted or deleted by a statement: their own pairs (a deleted run is no longer
-- there to look up) and those of the runs above them.
CREATE FUNCTION review_load_runs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO review_loadchange (pipeline_id, document_id) SELECT DISTINCT pipeline_id, document_id FROM changed;
    PERFORM review_load_queue(ARRAY(
        SELECT step.run_id FROM changed JOIN orchestrator_step step ON step.id = changed.parent_step_id));
    RETURN NULL;
END $$;

CREATE FUNCTION review_load_run_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO review_loadchange (pipeline_id, document_id)
    SELECT DISTINCT pipeline_id, document_id
    FROM (VALUES (OLD.pipeline_id, OLD.document_id), (NEW.pipeline_id, NEW.document_id)) AS pair(pipeline_id, document_id);
    PERFORM review_load_queue(ARRAY(
        SELECT run_id FROM orchestrator_step WHERE id IN (OLD.parent_step_id, NEW.parent_step_id)));
    RETURN NULL;
END $$;

-- Links inserted or deleted: the pairs of their runs.
CREATE FUNCTION review_load_links() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM review_load_queue(ARRAY(SELECT run_id FROM changed));
    RETURN NULL;
END $$;

CREATE FUNCTION review_load_link_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM review_load_queue(ARRAY[OLD.run_id, NEW.run_id]);
    RETURN NULL;
END $$;

-- An item resolved, re-judged or moved; a decision made: the pairs of the item's runs.
CREATE FUNCTION review_load_item_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM review_load_queue(ARRAY(SELECT run_id FROM review_reviewlink WHERE item_id = NEW.id));
    RETURN NULL;
END $$;

CREATE FUNCTION review_load_decisions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM review_load_queue(ARRAY(
        SELECT link.run_id FROM added JOIN review_reviewlink link ON link.item_id = added.item_id));
    RETURN NULL;
END $$;

CREATE TRIGGER review_load_run_insert AFTER INSERT ON orchestrator_run
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION review_load_runs();
CREATE TRIGGER review_load_run_delete AFTER DELETE ON orchestrator_run
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION review_load_runs();
CREATE TRIGGER review_load_run_update AFTER UPDATE ON orchestrator_run FOR EACH ROW
    WHEN (OLD.pipeline_id IS DISTINCT FROM NEW.pipeline_id OR OLD.document_id IS DISTINCT FROM NEW.document_id
          OR OLD.status IS DISTINCT FROM NEW.status OR OLD.created_at IS DISTINCT FROM NEW.created_at
          OR OLD.parent_step_id IS DISTINCT FROM NEW.parent_step_id
          OR OLD.routed_findings IS DISTINCT FROM NEW.routed_findings)
    EXECUTE FUNCTION review_load_run_updated();
CREATE TRIGGER review_load_link_insert AFTER INSERT ON review_reviewlink
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION review_load_links();
CREATE TRIGGER review_load_link_delete AFTER DELETE ON review_reviewlink
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION review_load_links();
CREATE TRIGGER review_load_link_update AFTER UPDATE ON review_reviewlink FOR EACH ROW
    WHEN (OLD.item_id IS DISTINCT FROM NEW.item_id OR OLD.run_id IS DISTINCT FROM NEW.run_id)
    EXECUTE FUNCTION review_load_link_updated();
CREATE TRIGGER review_load_item_update AFTER UPDATE ON review_reviewitem FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.judge IS DISTINCT FROM NEW.judge
          OR OLD.document_id IS DISTINCT FROM NEW.document_id OR OLD.finding_type IS DISTINCT FROM NEW.finding_type)
    EXECUTE FUNCTION review_load_item_updated();
CREATE TRIGGER review_load_decision_insert AFTER INSERT ON review_decision
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION review_load_decisions();

-- Everything already there (the triggers' locks hold writers off until this commits).
INSERT INTO review_loadchange (pipeline_id, document_id) SELECT DISTINCT pipeline_id, document_id FROM orchestrator_run;
"""

DROP = """
DROP TRIGGER review_load_decision_insert ON review_decision;
DROP TRIGGER review_load_item_update ON review_reviewitem;
DROP TRIGGER review_load_link_update ON review_reviewlink;
DROP TRIGGER review_load_link_delete ON review_reviewlink;
DROP TRIGGER review_load_link_insert ON review_reviewlink;
DROP TRIGGER review_load_run_update ON orchestrator_run;
DROP TRIGGER review_load_run_delete ON orchestrator_run;
DROP TRIGGER review_load_run_insert ON orchestrator_run;
DROP FUNCTION review_load_decisions();
DROP FUNCTION review_load_item_updated();
DROP FUNCTION review_load_link_updated();
DROP FUNCTION review_load_links();
DROP FUNCTION review_load_run_updated();
DROP FUNCTION review_load_runs();
DROP FUNCTION review_load_queue(bigint[]);
"""


class Migration(migrations.Migration):

    dependencies = [
        ('documents', '0002_extraction_status_and_ocr'),
        ('orchestrator', '0017_run_pipeline_recent'),
        ('review', '0007_four_eyes'),
    ]

    operations = [
        migrations.CreateModel(
            name='LoadChange',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('document', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='documents.document')),
                ('pipeline', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='orchestrator.pipeline')),
            ],
            options={
                'indexes': [models.Index(fields=['pipeline', 'document'], name='load_change_pair')],
            },
        ),
        migrations.CreateModel(
            name='LoadEntry',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('document', 'Document'), ('disputed', 'Disputed'), ('item', 'Item')], max_length=10)),
                ('latest_at', models.DateTimeField()),
                ('latest_run', models.BigIntegerField()),
                ('about_document', models.BigIntegerField(null=True)),
                ('type', models.JSONField(null=True)),
                ('severity', models.JSONField(null=True)),
                ('confidence', models.JSONField(null=True)),
                ('item_id', models.BigIntegerField(null=True)),
                ('finding_type', models.CharField(max_length=50, null=True)),
                ('decided', models.BooleanField(null=True)),
                ('judge_is_issue', models.JSONField(null=True)),
                ('decision_is_issue', models.BooleanField(null=True)),
                ('document', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='documents.document')),
                ('pipeline', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='orchestrator.pipeline')),
            ],
            options={
                'indexes': [models.Index(fields=['pipeline', 'latest_at', 'latest_run'], name='load_entry_latest'), models.Index(fields=['pipeline', 'document'], name='load_entry_pair')],
            },
        ),
        migrations.RunSQL(CREATE, DROP),
    ]
