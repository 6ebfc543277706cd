"""Each pipeline's dashboard figures per local day, rolled up in PipelineDay.

Triggers queue the (pipeline, instant) of every change to a run or a decision in
PipelineDayChange; fold() (the reaper, every tick) works the queued days out again
from the runs and decisions themselves, in one SQL statement written once here
(FIGURES). figures() reads the folded rows and works out, in the same statement,
the days still queued: the dashboard is exact whether or not the reaper has caught
up, and fast once it has."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.db import connection, transaction
from django.utils import timezone

# The figures of each (pipeline, day) in `keys` (a query for pipeline_id, day), from
# the runs created and the standing decisions on disagreements made that day: what
# insights.dashboard.daily_by_pipeline groups by day, for those keys only. A day is a
# calendar day of the zone in the `day` expressions (TruncDate's cast); the ranges
# around it only let the indexes find the rows, three hours wider on each side than
# local midnights (which a clock change can move by an hour).
FIGURES = """
WITH keys AS ({keys}),
bounds AS (
    SELECT pipeline_id, day,
        (day::timestamp AT TIME ZONE %(zone)s) - interval '3 hours' AS start,
        ((day + 1)::timestamp AT TIME ZONE %(zone)s) + interval '3 hours' AS stop
    FROM keys
),
runs AS (
    -- Key by key (a few days in the reader, every day once in the first fold), each an
    -- index range over one pipeline's runs.
    SELECT bounds.pipeline_id, bounds.day, figures.*
    FROM bounds CROSS JOIN LATERAL (
        SELECT count(run.id) AS runs, coalesce(sum(run.cost), 0) AS spend,
            count(run.id) FILTER (WHERE run.status = 'failed') AS failed,
            count(run.id) FILTER (WHERE run.finished_at IS NOT NULL) AS finished,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM run.finished_at - run.started_at))
                FILTER (WHERE run.finished_at IS NOT NULL) AS p50_s,
            percentile_cont(0.95) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM run.finished_at - run.started_at))
                FILTER (WHERE run.finished_at IS NOT NULL) AS p95_s,
            coalesce(sum(run.agreed_count), 0) AS agreed, coalesce(sum(run.disputed_count), 0) AS disputed
        FROM orchestrator_run run
        WHERE run.pipeline_id = bounds.pipeline_id AND run.created_at >= bounds.start AND run.created_at < bounds.stop
            AND {run_day} = bounds.day
    ) figures
    WHERE figures.runs > 0
),
decided AS (
    -- The standing decisions on disagreements of the keys' days, found once for all the keys
    -- (by when they were made: 15k in three days on the bench); audit samples are left out,
    -- as there the judge only confirmed an agreement.
    SELECT run.pipeline_id, {decision_day} AS day, decision.id, decision.overturned
    FROM review_decision decision
    JOIN review_reviewitem item ON item.id = decision.item_id AND item.reason = 'disagreement'
    JOIN orchestrator_run run ON run.id = item.run_id
    WHERE decision.created_at >= (SELECT min(start) FROM bounds)
        AND decision.created_at < (SELECT max(stop) FROM bounds)
        AND run.pipeline_id IN (SELECT pipeline_id FROM keys)
        AND NOT EXISTS (SELECT 1 FROM review_decision later WHERE later.supersedes_id = decision.id)
),
decisions AS (
    SELECT keys.pipeline_id, keys.day, count(decided.id) AS decisions,
        count(decided.id) FILTER (WHERE decided.overturned) AS overturned
    FROM keys JOIN decided ON decided.pipeline_id = keys.pipeline_id AND decided.day = keys.day
    GROUP BY 1, 2
)
SELECT coalesce(runs.pipeline_id, decisions.pipeline_id) AS pipeline_id, coalesce(runs.day, decisions.day) AS day,
    coalesce(runs.runs, 0) AS runs, coalesce(runs.spend, 0) AS spend, coalesce(runs.failed, 0) AS failed,
    coalesce(runs.finished, 0) AS finished, runs.p50_s, runs.p95_s, coalesce(runs.agreed, 0) AS agreed,
    coalesce(runs.disputed, 0) AS disputed, coalesce(decisions.decisions, 0) AS decisions,
    coalesce(decisions.overturned, 0) AS overturned
FROM runs FULL JOIN decisions ON decisions.pipeline_id = runs.pipeline_id AND decisions.day = runs.day
"""
COLUMNS = ["runs", "spend", "failed", "finished", "p50_s", "p95_s", "agreed", "disputed", "decisions", "overturned"]

# The folded rows of the window, but for the days still queued; then those days worked
# out from the runs and decisions. Every (pipeline, day) of the window is worked out when
# rows of another zone are there (TIME_ZONE changed and the reaper has not rebuilt yet).
_READ = """
WITH stale AS (
    SELECT DISTINCT pipeline_id, {change_day} AS day FROM insights_pipelinedaychange
    WHERE pipeline_id = ANY(%(pipelines)s) AND at >= %(start)s AND at < %(stop)s
), other_zone AS (
    SELECT EXISTS (SELECT 1 FROM insights_pipelineday WHERE zone < %(zone_name)s)
        OR EXISTS (SELECT 1 FROM insights_pipelineday WHERE zone > %(zone_name)s) AS found
)
SELECT pipeline_id, day, {columns} FROM insights_pipelineday
WHERE zone = %(zone_name)s AND pipeline_id = ANY(%(pipelines)s) AND day BETWEEN %(since)s AND %(until)s
    AND NOT (SELECT found FROM other_zone)
    AND (pipeline_id, day) NOT IN (SELECT pipeline_id, day FROM stale)
UNION ALL
({figures})
"""
_WINDOW_KEYS = """
    SELECT pipeline_id, day FROM stale WHERE day BETWEEN %(since)s AND %(until)s
    UNION
    SELECT pipeline.id, window_day::date FROM unnest(%(pipelines)s::bigint[]) AS pipeline(id),
        generate_series(%(since)s::date, %(until)s::date, interval '1 day') AS window_day
    WHERE (SELECT found FROM other_zone)
"""

# Fold: the queue taken, as days (the DELETE's snapshot); their rows replaced by what a
# later snapshot works out; under a lock that keeps two folds from writing the same days.
_TAKE = """
WITH taken AS (DELETE FROM insights_pipelinedaychange RETURNING pipeline_id, at)
SELECT DISTINCT pipeline_id, {change_day} FROM taken
"""
_REPLACE = """
DELETE FROM insights_pipelineday day USING unnest(%(pipelines)s::bigint[], %(days)s::date[]) AS key(pipeline_id, day)
WHERE day.zone = %(zone_name)s AND day.pipeline_id = key.pipeline_id AND day.day = key.day
"""
_INSERT = """
INSERT INTO insights_pipelineday (zone, pipeline_id, day, {columns}) SELECT %(zone_name)s, * FROM ({figures}) figures
"""
_OTHER_ZONE = "SELECT EXISTS (SELECT 1 FROM insights_pipelineday WHERE zone <> %s)"
# TIME_ZONE changed: the other zone's rows go, and every run and decision is queued again.
_REQUEUE = """
INSERT INTO insights_pipelinedaychange (pipeline_id, at)
SELECT pipeline_id, date_bin('15 minutes', created_at, timestamptz '2000-01-01 00:00:00+00') FROM orchestrator_run
UNION
SELECT run.pipeline_id, date_bin('15 minutes', decision.created_at, timestamptz '2000-01-01 00:00:00+00')
FROM review_decision decision JOIN review_reviewitem item ON item.id = decision.item_id
JOIN orchestrator_run run ON run.id = item.run_id
"""
_LOCK = 7_301_402  # pg_advisory_xact_lock key of the fold


def _day_sql(column: str, zone: str) -> tuple[str, str]:
    """`column`'s local date in `zone` as TruncDate casts it, with the zone as the named
    parameter %(zone)s; and that parameter's value."""
    sql, (param,) = connection.ops.datetime_cast_date_sql(column, (), zone)
    return sql.replace("%s", "%(zone)s"), param


def _figures_sql(keys: str, zone: str) -> tuple[str, dict]:
    """FIGURES for `keys`, with its day expressions and zone as named parameters."""
    run_day, param = _day_sql("run.created_at", zone)
    decision_day, _ = _day_sql("decision.created_at", zone)
    return FIGURES.format(keys=keys, run_day=run_day, decision_day=decision_day), {"zone": param}


def figures(pipeline_ids: list[int], since: date, until: date) -> dict[tuple[int, date], dict]:
    """The figures of each pipeline's days from `since` to `until` (local days of the
    current time zone) that had runs or decisions, by (pipeline id, day), in one query."""
    zone = timezone.get_current_timezone_name()
    figures_sql, params = _figures_sql(_WINDOW_KEYS, zone)
    change_day, _ = _day_sql("at", zone)
    sql = _READ.format(change_day=change_day, columns=", ".join(COLUMNS), figures=figures_sql)
    # Changes a day either side of the window: the queue's instants map to days in SQL.
    start = timezone.make_aware(datetime.combine(since - timedelta(days=1), time.min))
    stop = timezone.make_aware(datetime.combine(until + timedelta(days=2), time.min))
    params |= {"pipelines": pipeline_ids, "zone_name": zone, "since": since, "until": until, "start": start,
               "stop": stop}  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column.name for column in cursor.description]
        return {(row[0], row[1]): dict(zip(names, row, strict=True)) for row in cursor.fetchall()}


def fold() -> int:
    """Work out again the days the triggers queued (days of the default time zone, the
    one the dashboard draws in), replacing their rows; the number of days worked out.
    The reaper does this every tick; changes queued meanwhile wait for the next fold."""
    zone = timezone.get_default_timezone_name()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK])
        cursor.execute(_OTHER_ZONE, [zone])
        if cursor.fetchone()[0]:
            cursor.execute("DELETE FROM insights_pipelineday WHERE zone <> %s", [zone])
            cursor.execute(_REQUEUE)
        change_day, param = _day_sql("at", zone)
        cursor.execute(_TAKE.format(change_day=change_day), {"zone": param})
        keys = cursor.fetchall()
        if not keys:
            return 0
        params = {"pipelines": [key[0] for key in keys], "days": [key[1] for key in keys], "zone_name": zone}
        cursor.execute(_REPLACE, params)
        figures_sql, zone_params = _figures_sql(
            "SELECT * FROM unnest(%(pipelines)s::bigint[], %(days)s::date[]) AS key(pipeline_id, day)", zone
        )
        cursor.execute(_INSERT.format(columns=", ".join(COLUMNS), figures=figures_sql), params | zone_params)
        return len(keys)
