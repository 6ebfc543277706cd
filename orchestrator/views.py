import json
from decimal import Decimal

import django_rq
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django_tables2 import RequestConfig
from redis.exceptions import RedisError
from rq import Worker

from config.roles import ANALYST, role_required
from documents.models import Document
from review.load import expected_items_per_document

from .engine import context_for, start_run
from .forms import CompareRunsForm, RunFilterForm, StartRunForm
from .llm.prices import cache_saving
from .models import Pipeline, Run, Step, brought_findings
from .patterns import StepState, chain, schemas
from .runs import export, trace
from .runs.archive import read_archived
from .runs.export import stream_csv
from .runs.replay import compare_results, replay_from
from .tables import RunTable


def _get_run_for_user(request, run_id: int) -> Run:
    # Every analyst sees every run: Quorum has one team per deployment.
    # Not the document's text (megabytes for a long scan): these pages name the document only.
    return get_object_or_404(Run.objects.select_related("document", "pipeline").defer("document__text"), pk=run_id)


@never_cache  # pages that change: Back must ask again, never show a stale state
@role_required(ANALYST)
def runs(request):
    form = RunFilterForm(request.GET or None)
    # Only what the table shows: never a run's result or a document's text (a list of 25 runs).
    queryset = Run.objects.top_level().select_related("document", "pipeline").only(*RunTable.FIELDS)
    if form.is_bound:
        queryset = form.filter(queryset)
    table = RunTable(queryset)
    RequestConfig(request, paginate={"per_page": 25}).configure(table)
    live = any(not row.record.is_finished for row in table.page.object_list) if table.page else False
    context = {"table": table, "form": form, "live": live, "query": request.GET.urlencode()}
    if request.htmx:
        return render(request, "orchestrator/runs.html#runs-table", context)
    return render(request, "orchestrator/runs.html", context)


def _filtered_runs(request):
    form = RunFilterForm(request.GET or None)
    runs = Run.objects.top_level()  # a nested run's cost is already in its parent's
    return form.filter(runs) if form.is_bound else runs


@role_required(ANALYST)
def export_runs(request):
    return stream_csv("quorum-runs.csv", export.RUN_HEADER, export.run_rows(_filtered_runs(request)))


@role_required(ANALYST)
def export_findings(request):
    return stream_csv("quorum-findings.csv", export.FINDING_HEADER, export.finding_rows(_filtered_runs(request)))


@role_required(ANALYST)
def export_steps(request):
    return stream_csv("quorum-steps.csv", export.STEP_HEADER, export.step_rows(_filtered_runs(request)))


@never_cache  # pages that change: Back must ask again, never show a stale state
@role_required(ANALYST)
def run_detail(request, run_id: int):
    run = _get_run_for_user(request, run_id)
    # Never the raw trace here (15 kB a step on a real contract): the step page shows it.
    steps = run.steps.select_related("agent", "copied_from").defer(*_RAW, *[f"copied_from__{name}" for name in _RAW])
    steps = list(steps.order_by("wave", "key"))
    by_key = {step.key: step for step in steps}
    result = run.result or {}
    brought = brought_findings(result)
    context = {
        "run": run,
        "steps": steps,
        "rows": _trace_rows(steps),
        "result": result,
        # A Debate's own findings, or those a nested Debate brought (contract-supervisor's:
        # a Supervisor's own partial-result finding is shown with its result above).
        "findings": (result.get("findings") or []) if result.get("pattern") == "debate" else brought,
        "brought_issues": sum(bool(finding.get("is_issue")) for finding in brought),
        "fields": _field_rows(result, steps),
        "missing": [{**item, "step_obj": by_key.get(item["step"])} for item in result.get("missing") or []],
        "checks": _stage_checks(run, steps) if run.pipeline.pattern == Pipeline.Pattern.CHAIN else [],
        "diff": compare_results(run.replay_of.result, result) if run.replay_of and run.is_finished else None,
        "original_label": f"Run {run.replay_of_id}",
        "items": {item.finding_key: item for item in run.review_items.all()},
        "stand_in": run.pipeline.uses_stand_in(),
        # What the prompt cache saved this run's own steps, and models met with no price.
        "cache_saving": sum(
            (cache_saving(s.price, s.cache_read_tokens, s.cache_write_tokens) for s in steps if not s.copied_from_id),
            Decimal(0),
        ),
        "unpriced": sorted({s.price["model"] for s in steps if s.price and s.price.get("unpriced")}),
    }
    if request.htmx:
        return render(request, "orchestrator/run.html#run-live", context)
    return render(request, "orchestrator/run.html", context)


# A step's raw trace: what the run and trace pages never read.
_RAW = ("inputs", "request", "raw_response")


def _trace_rows(steps: list[Step], depth: int = 0, prefix: str = "") -> list[dict]:
    """The steps in trace order, each followed by the steps of the run it
    started when its slot holds a pipeline, one level deeper."""
    rows = []
    children = {child.parent_step_id: child for child in Run.objects.filter(parent_step__in=steps)}
    for step in steps:
        child = children.get(step.pk)
        rows.append({"step": step, "depth": depth, "child": child, "label": prefix + step.key})
        if child is not None:
            nested = list(child.steps.select_related("agent", "copied_from").order_by("wave", "key"))
            rows.extend(_trace_rows(nested, depth + 1, f"{prefix}{step.key} › "))
    return rows


def _field_rows(result: dict, steps: list[Step]) -> list[dict]:
    """A Supervisor's or Chain's result, field by field, with the step that produced
    each value (and, for a Chain, the value after every stage)."""
    fields = result.get("fields")
    if not isinstance(fields, dict):
        return []
    by_key = {step.key: step for step in steps}
    order = {step.key: index for index, step in enumerate(steps)}  # steps come in wave order
    provenance, trails = result.get("provenance") or {}, result.get("trail") or {}
    # JSONB keeps no key order: list the fields by the step that produced them, then by name.
    names = sorted(fields, key=lambda name: (order.get(provenance.get(name, ""), len(order)), name))
    return [
        {
            "name": name,
            "value": _display(value),
            "source": provenance.get(name, ""),
            "step": by_key.get(provenance.get(name, "")),
            "trail": [
                {"step": by_key.get(entry["step"]), "key": entry["step"], "value": _display(entry["value"])}
                for entry in trails.get(name, [])
            ],
        }
        for name, value in ((name, fields[name]) for name in names)
    ]


def _display(value) -> str:
    """A field's value in a table cell: lists of named things by name, the rest as JSON."""
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        names = [item.get("name") or item.get("heading") or item.get("title") or item.get("key") for item in value]
        if any(names):
            return f"{len(value)}: " + "; ".join(str(name) for name in names if name)
        return f"{len(value)}: " + "; ".join(json.dumps(item, ensure_ascii=False) for item in value)
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "–"
    return json.dumps(value, ensure_ascii=False)


def _stage_checks(run: Run, steps: list[Step]) -> list[dict]:
    states = {step.key: StepState(step.key, step.status, step.output, step.error) for step in steps}
    rows = chain.stage_checks(context_for(run), states)
    by_key = {step.key: step for step in steps}
    for row in rows:
        row["step"] = by_key.get(row["stage"].key)
    return rows


@role_required(ANALYST)
def run_trace(request, run_id: int):
    run = _get_run_for_user(request, run_id)
    # A replay's reused steps ran in the original run, at its times: not on this run's time axis.
    steps = list(run.steps.select_related("agent").defer(*_RAW, "output"))
    rows = [row for row in _trace_rows(steps) if not row["step"].copied_from_id]
    labels = {row["step"].pk: row["label"] for row in rows}
    chart = trace.waterfall([row["step"] for row in rows], timezone.now(), labels)
    context = {"run": run, "chart": chart}
    if request.htmx:
        return render(request, "orchestrator/trace.html#waterfall", context)
    return render(request, "orchestrator/trace.html", context)


@role_required(ANALYST)
def step_detail(request, run_id: int, step_id: int):
    run = _get_run_for_user(request, run_id)
    step = get_object_or_404(
        run.steps.select_related("agent", "prompt_version", "rubric_version", "copied_from__run"), pk=step_id
    )
    archived = None
    if step.archived_on and request.GET.get("archived"):
        # Read back from its day file for this page only; the row stays cleared.
        archived = read_archived(step)
        if archived:
            for field, value in archived.items():
                setattr(step, field, value)
    schema = _declared_schema((step.request or {}).get("output_schema"))
    context = {
        "run": run,
        "step": step,
        "archived": archived,
        "child": Run.objects.filter(parent_step=step).select_related("pipeline").first(),
        "can_replay": run.is_finished and not run.parent_step_id,
        "output_json": pretty_json(step.output, schema),
        "inputs_json": pretty_json(step.inputs),
        "sent_messages": _messages_as_sent(step, run),
    }
    if request.htmx:
        # The trace page's side panel: the step without leaving the waterfall.
        return render(request, "orchestrator/step.html#step-panel", context | {"panel": True})
    return render(request, "orchestrator/step.html", context)


def _declared_schema(stored: dict | None) -> dict | None:
    """The schema as the code declares it, key order included: a schema read back
    from JSONB has its keys in PostgreSQL's order, not the author's."""
    for candidate in vars(schemas).values():
        if isinstance(candidate, dict) and candidate == stored:
            return candidate
    return stored


def ordered(value, schema: dict | None = None):
    """`value` with its objects' keys in the order the schema declares them, then
    the rest by name: JSONB keeps no key order, and people read a finding as its
    schema tells it (type, title, severity, evidence...)."""
    schema = schema if isinstance(schema, dict) else {}
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        keys = [key for key in properties if key in value] + sorted(key for key in value if key not in properties)
        return {key: ordered(value[key], properties.get(key)) for key in keys}
    if isinstance(value, list):
        return [ordered(item, schema.get("items")) for item in value]
    return value


def pretty_json(value, schema: dict | None = None) -> str:
    if value is None:
        return ""
    return json.dumps(ordered(value, schema), indent=2, ensure_ascii=False)


def _messages_as_sent(step: Step, run: Run) -> list[dict]:
    """The request's messages as the model saw them, each cut around the document
    so that the page can fold the document away: [{role, before, document, after}]."""
    document = run.document.text or ""
    shown = []
    request = step.request or {}
    # The shared context (document, rubric) goes before the messages, in the system prompt.
    context = [{"role": "context (system)", "content": block} for block in request.get("context") or []]
    for message in [*context, *(request.get("messages") or [])]:
        content = message.get("content")
        if isinstance(content, list):  # content blocks: the text of each
            content = "\n\n".join(block.get("text", "") for block in content if isinstance(block, dict))
        content = "" if content is None else str(content)
        at = content.find(document) if len(document) >= 20 else -1
        if at >= 0:
            shown.append({"role": message.get("role", ""), "before": content[:at], "document": document,
                          "after": content[at + len(document):]})  # fmt: skip
        else:
            shown.append({"role": message.get("role", ""), "before": content, "document": "", "after": ""})
    return shown


@require_POST
@role_required(ANALYST)
def replay(request, run_id: int, step_id: int):
    run = _get_run_for_user(request, run_id)
    step = get_object_or_404(run.steps, pk=step_id)
    if not run.is_finished or run.parent_step_id:
        # A nested run is replayed from its parent's step; a running one once it has finished.
        messages.error(request, "Only a finished top-level run can be replayed.")
        return redirect("orchestrator:step", run.pk, step.pk)
    new = replay_from(step, request.user)
    messages.success(request, f"Replaying run {run.pk} from {step.key} with the prompt versions active now.")
    return redirect(new)


@role_required(ANALYST)
def pipelines(request):
    rows = Pipeline.objects.filter(is_active=True).prefetch_related("slots__agent", "slots__subpipeline")
    return render(request, "orchestrator/pipelines.html", {"pipelines": rows})


@role_required(ANALYST)
def pipeline_detail(request, slug: str):
    pipeline = get_object_or_404(Pipeline.objects.select_related("rubric__active"), slug=slug)
    slots = pipeline.slots.select_related("agent__prompt__active", "subpipeline")
    recent = pipeline.runs.top_level().select_related("document")[:20]
    context = {
        "pipeline": pipeline,
        "slots": slots,
        "recent": recent,
        "shadows": _shadow_agreement(pipeline),
        "expected_items": expected_items_per_document(pipeline),
    }
    return render(request, "orchestrator/pipeline.html", context)


SHADOW_RUNS = 500  # the latest runs an agreement rate is computed over


def _shadow_agreement(pipeline: Pipeline) -> list[dict]:
    """Per shadow stage: how often it agreed with the live stage over the latest
    finished runs, and the runs where it did not."""
    stats: dict[str, dict] = {}
    finished = pipeline.runs.filter(result__has_key="shadows").only("id", "result", "created_at")
    for run in finished.order_by("-created_at")[:SHADOW_RUNS]:
        for comparison in run.result.get("shadows") or []:
            entry = stats.setdefault(
                comparison["shadow"], {"shadow": comparison["shadow"], "stage": comparison["stage"], "runs": 0}
            )
            entry["runs"] += 1
            entry["agreed"] = entry.get("agreed", 0) + bool(comparison["agrees"])
            if not comparison["agrees"]:
                entry.setdefault("differing", []).append({"run": run, "comparison": comparison})
    for entry in stats.values():
        entry["rate"] = entry.get("agreed", 0) / entry["runs"]
        entry["differing"] = entry.get("differing", [])[:20]
    return list(stats.values())


@require_POST
@role_required(ANALYST)
def start(request, document_id: int):
    document = get_object_or_404(Document, pk=document_id)
    form = StartRunForm(request.POST)
    if not form.is_valid() or not document.is_ready:
        # A document still being read (or unreadable) has no text to run on.
        return redirect(document)
    run = start_run(document, form.cleaned_data["pipeline"], request.user)
    return redirect(run)


@never_cache
@login_not_required
def healthz(request):
    """For load balancers ({"status": "ok"|"error"}) and, signed in as staff, operators: whether each part answers."""
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = {"ok": True}
    except Exception as error:  # noqa: BLE001 - any failure is "down"
        checks["database"] = {"ok": False, "error": type(error).__name__}
    try:
        redis = django_rq.get_connection("default")
        redis.ping()
        workers = Worker.all(connection=redis)
        checks["redis"] = {"ok": True}
        checks["workers"] = {"ok": bool(workers), "count": len(workers)}
        checks["queues"] = {name: django_rq.get_queue(name).count for name in settings.RQ_QUEUE_NAMES}
    except RedisError as error:
        checks["redis"] = {"ok": False, "error": type(error).__name__}
        checks["workers"] = {"ok": False, "count": 0}
    checks["running_steps"] = (
        Step.objects.filter(status=Step.Status.RUNNING).count() if checks["database"]["ok"] else None
    )
    ok = checks["database"]["ok"] and checks["redis"]["ok"]
    status = {"status": "ok" if ok else "error"}
    # Counts of workers, queues and running steps are for staff, not for anyone on the network.
    body = {**status, "ok": ok, **checks} if request.user.is_staff else status
    return JsonResponse(body, status=200 if ok else 503)


@role_required(ANALYST)
def compare_runs(request):
    form = CompareRunsForm(request.GET or None)
    if not form.is_valid():
        return render(request, "orchestrator/compare.html", {"form": form})
    a = _get_run_for_user(request, form.cleaned_data["a"])
    b = _get_run_for_user(request, form.cleaned_data["b"])
    context = {
        "form": form,
        "a": a,
        "b": b,
        "a_pk": str(a.pk),
        "b_pk": str(b.pk),
        "diff": compare_results(a.result, b.result),
        "steps": _step_pairs(a, b),
    }
    return render(request, "orchestrator/compare.html", context)


def _step_pairs(a: Run, b: Run) -> list[dict]:
    """The two runs' steps matched by key; a pair differs when only one run has
    the step, or their outputs or prompt versions differ."""
    left = {step.key: step for step in a.steps.select_related("agent", "prompt_version__prompt")}
    right = {step.key: step for step in b.steps.select_related("agent", "prompt_version__prompt")}
    pairs = []
    for key in [*left, *(key for key in right if key not in left)]:
        one, other = left.get(key), right.get(key)
        differs = (
            one is None
            or other is None
            or one.output != other.output
            or one.prompt_version_id != other.prompt_version_id
        )
        pairs.append({"key": key, "a": one, "b": other, "differs": differs})
    return pairs
