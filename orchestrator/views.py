import django_rq
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

from . import dashboard, export, trace
from .engine import start_run
from .export import stream_csv
from .forms import RunFilterForm, StartRunForm
from .models import Pipeline, Run, Step
from .tables import RunTable


def _get_run_for_user(request, run_id: int) -> Run:
    # Every analyst sees every run: Quorum has one team per deployment.
    return get_object_or_404(Run.objects.select_related("document", "pipeline"), pk=run_id)


@role_required(ANALYST)
def runs(request):
    form = RunFilterForm(request.GET or None)
    queryset = Run.objects.select_related("document", "pipeline").defer("document__text")
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
    return form.filter(Run.objects.all()) if form.is_bound else Run.objects.all()


@role_required(ANALYST)
def export_runs(request):
    return stream_csv("quorum-runs.csv", export.RUN_HEADER, export.run_rows(_filtered_runs(request)))


@role_required(ANALYST)
def export_findings(request):
    return stream_csv("quorum-findings.csv", export.FINDING_HEADER, export.finding_rows(_filtered_runs(request)))


@role_required(ANALYST)
def export_steps(request):
    return stream_csv("quorum-steps.csv", export.STEP_HEADER, export.step_rows(_filtered_runs(request)))


@role_required(ANALYST)
def run_detail(request, run_id: int):
    run = _get_run_for_user(request, run_id)
    steps = run.steps.select_related("agent").order_by("wave", "key")
    context = {
        "run": run,
        "steps": steps,
        "result": run.result or {},
        "items": {item.finding_key: item for item in run.review_items.all()},
        "stand_in": run.pipeline.uses_stand_in(),
    }
    if request.htmx:
        return render(request, "orchestrator/run.html#run-live", context)
    return render(request, "orchestrator/run.html", context)


@role_required(ANALYST)
def run_trace(request, run_id: int):
    run = _get_run_for_user(request, run_id)
    steps = list(run.steps.select_related("agent"))
    context = {"run": run, "chart": trace.waterfall(steps, timezone.now())}
    if request.htmx:
        return render(request, "orchestrator/trace.html#waterfall", context)
    return render(request, "orchestrator/trace.html", context)


@role_required(ANALYST)
def step_detail(request, run_id: int, step_id: int):
    run = _get_run_for_user(request, run_id)
    step = get_object_or_404(run.steps.select_related("agent", "prompt_version", "rubric_version"), pk=step_id)
    return render(request, "orchestrator/step.html", {"run": run, "step": step})


DASHBOARD_DAYS = [7, 30, 90]


@role_required(ANALYST)
def dashboard_page(request):
    days = int(request.GET["days"]) if request.GET.get("days") in {str(n) for n in DASHBOARD_DAYS} else 30
    blocks = [
        {"pipeline": pipeline, "charts": dashboard.charts(dashboard.daily(pipeline, days))}
        for pipeline in Pipeline.objects.filter(is_active=True)
    ]
    return render(
        request, "orchestrator/dashboard.html", {"pipelines": blocks, "days": days, "day_choices": DASHBOARD_DAYS}
    )


@role_required(ANALYST)
def pipelines(request):
    rows = Pipeline.objects.filter(is_active=True).prefetch_related("slots__agent")
    return render(request, "orchestrator/pipelines.html", {"pipelines": rows})


@role_required(ANALYST)
def pipeline_detail(request, slug: str):
    pipeline = get_object_or_404(Pipeline.objects.select_related("rubric__active"), slug=slug)
    slots = pipeline.slots.select_related("agent__prompt__active")
    recent = pipeline.runs.select_related("document")[:20]
    return render(request, "orchestrator/pipeline.html", {"pipeline": pipeline, "slots": slots, "recent": recent})


@require_POST
@role_required(ANALYST)
def start(request, document_id: int):
    document = get_object_or_404(Document, pk=document_id)
    form = StartRunForm(request.POST)
    if not form.is_valid():
        return redirect(document)
    run = start_run(document, form.cleaned_data["pipeline"], request.user)
    return redirect(run)


@never_cache
@login_not_required
def healthz(request):
    """For load balancers and operators: no secrets, just whether each part answers."""
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
        checks["queues"] = {name: django_rq.get_queue(name).count for name in ("default", "advocates", "judges")}
    except RedisError as error:
        checks["redis"] = {"ok": False, "error": type(error).__name__}
        checks["workers"] = {"ok": False, "count": 0}
    checks["running_steps"] = (
        Step.objects.filter(status=Step.Status.RUNNING).count() if checks["database"]["ok"] else None
    )
    ok = checks["database"]["ok"] and checks["redis"]["ok"]
    return JsonResponse({"ok": ok, **checks}, status=200 if ok else 503)
