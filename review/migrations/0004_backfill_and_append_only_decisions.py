"""Fill the new review columns of rows made before them, then make decisions
append-only in the database itself.

Not atomic as a whole: the backfill runs in its own transaction first, so that
creating the trigger does not meet the updates' pending constraint checks."""

from django.db import migrations, models

# Decisions are append-only: PostgreSQL itself refuses to delete one or to change
# any of its columns.
APPEND_ONLY = """
CREATE FUNCTION review_decision_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR (
        NEW.id, NEW.item_id, NEW.decided_by_id, NEW.choice, NEW.value, NEW.is_issue,
        NEW.overturned, NEW.note, NEW.seconds_spent, NEW.supersedes_id, NEW.created_at
    ) IS DISTINCT FROM (
        OLD.id, OLD.item_id, OLD.decided_by_id, OLD.choice, OLD.value, OLD.is_issue,
        OLD.overturned, OLD.note, OLD.seconds_spent, OLD.supersedes_id, OLD.created_at
    ) THEN
        RAISE EXCEPTION 'review decision % is append-only: % refused', OLD.id, TG_OP
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER review_decision_append_only BEFORE UPDATE OR DELETE ON review_decision
    FOR EACH ROW EXECUTE FUNCTION review_decision_append_only();
"""
DROP_APPEND_ONLY = """
DROP TRIGGER IF EXISTS review_decision_append_only ON review_decision;
DROP FUNCTION IF EXISTS review_decision_append_only();
"""

FIELDS = ("type", "title", "severity", "evidence", "explanation")


def backfill(apps, schema_editor):
    """Fill the new columns of rows made before them (development data)."""
    Claim = apps.get_model("review", "Claim")
    ReviewItem = apps.get_model("review", "ReviewItem")
    Decision = apps.get_model("review", "Decision")
    Claim.objects.filter(ended_at__isnull=False).update(end="released", ended_by=models.F("user"))
    Run = apps.get_model("orchestrator", "Run")
    ReviewItem.objects.filter(pipeline__isnull=True).update(
        pipeline=models.Subquery(Run.objects.filter(pk=models.OuterRef("run_id")).values("pipeline_id")[:1])
    )
    for item in ReviewItem.objects.filter(machine_is_issue__isnull=True).iterator():
        positions = dict(item.positions or {})
        machine = positions.get("a") or positions.get("b")
        if machine and "finding" not in positions:
            positions["finding"] = {name: machine[name] for name in FIELDS if name in machine}
        judge = item.judge or {}
        item.positions = positions
        item.machine_is_issue = True if item.reason == "audit_sample" else judge.get("is_issue")
        item.save(update_fields=["positions", "machine_is_issue"])
    for decision in Decision.objects.filter(is_issue__isnull=True).select_related("item").iterator():
        is_issue = decision.value is not None
        judge = decision.item.judge or {}
        recommended = (decision.item.positions or {}).get({"accept_a": "a", "accept_b": "b"}.get(judge.get("recommendation"), ""))
        if decision.choice == "custom":
            overturned = True
        elif judge.get("recommendation"):
            overturned = (is_issue, decision.value) != (recommended is not None, recommended)
        else:
            overturned = not is_issue
        Decision.objects.filter(pk=decision.pk).update(is_issue=is_issue, overturned=overturned)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('orchestrator', '0001_initial'),
        ('review', '0003_audit_trail_and_inbox_indexes'),
    ]

    operations = [
        migrations.RunPython(backfill, migrations.RunPython.noop, atomic=True),
        migrations.RunSQL(APPEND_ONLY, DROP_APPEND_ONLY),
    ]
