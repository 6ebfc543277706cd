"""The agreed and disputed counts and the routed findings of a run's result, as
stored generated columns (see Run.agreed_count). The functions are IMMUTABLE, as a
generated column needs, and never raise: a result of another shape gives NULL."""

from django.db import migrations, models

FUNCTIONS = """
CREATE FUNCTION quorum_result_count(result jsonb, name text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(result #> ARRAY['counts', name]) = 'number'
                     AND abs((result #>> ARRAY['counts', name])::numeric) < 2147483648
                THEN trunc((result #>> ARRAY['counts', name])::numeric)::integer END
$$;

-- Of each agreed or disputed finding, what review.policy.rule_for reads.
CREATE FUNCTION quorum_routed_findings(result jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT jsonb_agg(jsonb_build_object(
        'type', f -> 'type', 'severity', f -> 'severity', 'status', f -> 'status',
        'judge', jsonb_build_object('confidence', f #> '{judge,confidence}')))
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(result -> 'findings') = 'array'
                                   THEN result -> 'findings' END) AS f
    WHERE jsonb_typeof(f) = 'object' AND f ->> 'status' IN ('agreed', 'disputed')
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("orchestrator", "0015_stepspend")]

    operations = [
        migrations.RunSQL(
            FUNCTIONS,
            "DROP FUNCTION quorum_result_count(jsonb, text); DROP FUNCTION quorum_routed_findings(jsonb);",
        ),
        migrations.AddField(
            model_name="run",
            name="agreed_count",
            field=models.GeneratedField(
                db_persist=True,
                expression=models.Func("result", models.Value("agreed"), function="quorum_result_count"),
                output_field=models.IntegerField(null=True),
            ),
        ),
        migrations.AddField(
            model_name="run",
            name="disputed_count",
            field=models.GeneratedField(
                db_persist=True,
                expression=models.Func("result", models.Value("disputed"), function="quorum_result_count"),
                output_field=models.IntegerField(null=True),
            ),
        ),
        migrations.AddField(
            model_name="run",
            name="routed_findings",
            field=models.GeneratedField(
                db_persist=True,
                expression=models.Func("result", function="quorum_routed_findings"),
                output_field=models.JSONField(null=True),
            ),
        ),
    ]
