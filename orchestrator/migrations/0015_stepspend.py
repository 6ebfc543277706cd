"""StepSpend: the steps' cost, tokens and number per pipeline, provider and quarter
hour, kept by triggers on orchestrator_step (the engine saves a step's cost with a
conditional UPDATE no signal sees) that append differences, and filled from the
steps already there. The
spend page and the monthly budget read it instead of summing every step (bench.runpages).
Plus a partial index for the spend page's calls with no price."""

from decimal import Decimal

import django.db.models.deletion
from django.db import migrations, models

# Counted: the steps of top-level runs (a nested run's cost rolls up into its parent
# step) that are not a replay's reused steps (paid for by their original run), each in
# the quarter hour of its queued_at. The triggers append differences (a new row each,
# no shared row locked); StepSpend.fold() adds them up.
_PERIOD = "date_bin('15 minutes', {0}.queued_at, timestamptz '2000-01-01 00:00:00+00')"
_APPEND = """
    INSERT INTO orchestrator_stepspend
        (pipeline_id, period, provider, cost, calls, input_tokens, output_tokens, folded)
    SELECT run.pipeline_id, {period}, {alias}.provider, {sign} * sum({alias}.cost), {calls},
        {sign} * sum({alias}.input_tokens), {sign} * sum({alias}.output_tokens), {folded}
    FROM {source} JOIN orchestrator_run run ON run.id = {alias}.run_id
    WHERE run.parent_step_id IS NULL AND {alias}.copied_from_id IS NULL
    GROUP BY 1, 2, 3
    HAVING sum({alias}.cost) <> 0 OR {calls} <> 0 OR sum({alias}.input_tokens) <> 0
        OR sum({alias}.output_tokens) <> 0
"""


def _append(source: str, alias: str, sign: str, calls: str, folded: str = "false") -> str:
    return _APPEND.format(
        period=_PERIOD.format(alias), alias=alias, source=source, sign=sign, calls=calls, folded=folded
    )


CREATE = f"""
CREATE FUNCTION orchestrator_stepspend_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_append("inserted step", "step", "1", "count(*)")};
    RETURN NULL;
END $$;

CREATE FUNCTION orchestrator_stepspend_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_append("deleted step", "step", "-1", "-count(*)")};
    RETURN NULL;
END $$;

-- A changed step: its old figures out, its new ones in (one row when both fall in one period).
CREATE FUNCTION orchestrator_stepspend_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_append(
        "(VALUES (-1, OLD.run_id, OLD.copied_from_id, OLD.queued_at, OLD.provider, -OLD.cost, "
        "-OLD.input_tokens, -OLD.output_tokens), "
        "(1, NEW.run_id, NEW.copied_from_id, NEW.queued_at, NEW.provider, NEW.cost, NEW.input_tokens, "
        "NEW.output_tokens)) AS change(sign, run_id, copied_from_id, queued_at, provider, cost, input_tokens, "
        "output_tokens)",
        "change",
        "1",
        "sum(change.sign)",
    )};
    RETURN NULL;
END $$;

CREATE TRIGGER orchestrator_stepspend_insert AFTER INSERT ON orchestrator_step
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION orchestrator_stepspend_inserted();
CREATE TRIGGER orchestrator_stepspend_delete AFTER DELETE ON orchestrator_step
    REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION orchestrator_stepspend_deleted();
CREATE TRIGGER orchestrator_stepspend_update AFTER UPDATE ON orchestrator_step FOR EACH ROW
    WHEN (OLD.cost IS DISTINCT FROM NEW.cost OR OLD.input_tokens IS DISTINCT FROM NEW.input_tokens
          OR OLD.output_tokens IS DISTINCT FROM NEW.output_tokens OR OLD.provider IS DISTINCT FROM NEW.provider
          OR OLD.queued_at IS DISTINCT FROM NEW.queued_at OR OLD.copied_from_id IS DISTINCT FROM NEW.copied_from_id
          OR OLD.run_id IS DISTINCT FROM NEW.run_id)
    EXECUTE FUNCTION orchestrator_stepspend_updated();

-- The steps already there, as folded sums (the triggers' lock on the table holds writers off until this commits).
{_append("orchestrator_step step", "step", "1", "count(*)", folded="true")};
"""

DROP = """
DROP TRIGGER orchestrator_stepspend_update ON orchestrator_step;
DROP TRIGGER orchestrator_stepspend_delete ON orchestrator_step;
DROP TRIGGER orchestrator_stepspend_insert ON orchestrator_step;
DROP FUNCTION orchestrator_stepspend_updated();
DROP FUNCTION orchestrator_stepspend_deleted();
DROP FUNCTION orchestrator_stepspend_inserted();
"""


class Migration(migrations.Migration):
    dependencies = [("orchestrator", "0014_providerlimit")]

    operations = [
        migrations.CreateModel(
            name="StepSpend",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "pipeline",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="orchestrator.pipeline",
                    ),
                ),
                ("period", models.DateTimeField()),
                ("provider", models.CharField(blank=True, max_length=20)),
                ("cost", models.DecimalField(decimal_places=6, default=Decimal("0"), max_digits=18)),
                ("calls", models.BigIntegerField(default=0)),
                ("input_tokens", models.BigIntegerField(default=0)),
                ("output_tokens", models.BigIntegerField(default=0)),
                ("folded", models.BooleanField(default=False)),
            ],
            options={
                "indexes": [
                    models.Index(fields=["pipeline", "period"], name="step_spend_pipeline_period"),
                    models.Index(
                        condition=models.Q(("folded", False)),
                        fields=["pipeline", "period", "provider"],
                        name="step_spend_unfolded",
                    ),
                ],
            },
        ),
        migrations.RunSQL(CREATE, DROP),
        migrations.AddIndex(
            model_name="step",
            index=models.Index(
                condition=models.Q(("price__unpriced", True)), fields=["queued_at"], name="step_unpriced_queued"
            ),
        ),
    ]
