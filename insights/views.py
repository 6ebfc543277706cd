"""The insights pages: the dashboard, spend, the cost estimate and evaluations.
Analysts see them all; each reads what runs and reviews recorded."""

from datetime import date

from django.contrib import messages
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from config.roles import ANALYST, role_required
from orchestrator.models import Pipeline
from review import load as review_load

from . import dashboard, evaluation, spend
from .estimate import estimate_context
from .forms import EstimateForm, EvaluateForm, LabelsForm
from .models import Evaluation, LabelledSet

DASHBOARD_DAYS = [7, 30, 90]


@role_required(ANALYST)
def dashboard_page(request):
    days = int(request.GET["days"]) if request.GET.get("days") in {str(n) for n in DASHBOARD_DAYS} else 30
    # ?until=YYYY-MM-DD shows the window that ended that day; without it, the one ending today.
    try:
        until = date.fromisoformat(request.GET.get("until", ""))
    except ValueError:
        until = None
    today = until or timezone.localdate()
    pipelines = list(Pipeline.objects.filter(is_active=True).select_related("rubric__active"))
    # Every pipeline's figures at once, from the roll-ups the reaper keeps (a query each).
    series = dashboard.daily_by_pipeline(pipelines, days, today)
    loads = review_load.loads(pipelines)
    blocks = [
        {"pipeline": pipeline, "charts": dashboard.charts(series[pipeline.pk]), "load": loads[pipeline.pk]}
        for pipeline in pipelines
    ]
    context = {"pipelines": blocks, "days": days, "day_choices": DASHBOARD_DAYS, "until": until}
    return render(request, "insights/dashboard.html", context)


@role_required(ANALYST)
def spend_page(request):
    return render(request, "insights/spend.html", spend.overview())


@role_required(ANALYST)
def estimate(request):
    # The upload page asks here too, for the pipeline chosen there (?pipeline=<id>).
    context = estimate_context(EstimateForm(request.GET or None))
    if request.htmx:
        return render(request, "insights/estimate.html#estimate-table", context)
    return render(request, "insights/estimate.html", context)


def _get_evaluation_for_user(request, evaluation_id: int) -> Evaluation:
    # Like runs: every analyst sees every evaluation.
    return get_object_or_404(Evaluation.objects.select_related("labelled_set", "pipeline"), pk=evaluation_id)


@role_required(ANALYST)
def evaluations(request):
    uploading = request.method == "POST" and "labels" in request.POST
    labels_form = LabelsForm(request.POST, request.FILES) if uploading else LabelsForm()
    if uploading and labels_form.is_valid():
        try:
            labelled_set = evaluation.import_set(
                labels_form.cleaned_data["name"], labels_form.cleaned_data["file"], request.user
            )
        except (KeyError, ValueError, ObjectDoesNotExist) as error:
            labels_form.add_error("file", f"Nothing imported: {error}")
        else:
            count = labelled_set.documents.count()
            messages.success(request, f"Imported the labelled set {labelled_set.name}: {count} document(s).")
            return redirect("insights:evaluations")
    form = EvaluateForm(request.POST if request.method == "POST" and not uploading else None)
    if request.method == "POST" and not uploading and form.is_valid():
        data = form.cleaned_data
        started = evaluation.start_evaluations(data["labelled_set"], data["pipelines"], request.user)
        messages.success(request, f"Started {len(started)} evaluation{'s' if len(started) > 1 else ''}.")
        return redirect(started[0])
    context = {
        "form": form,
        "labels_form": labels_form,
        "sets": LabelledSet.objects.annotate(size=Count("documents")),
        "past": Evaluation.objects.select_related("labelled_set", "pipeline")[:50],
    }
    return render(request, "insights/evaluations.html", context)


# The figures the report compares with the previous evaluation, in table order.
COMPARED_FIGURES = [
    ("accuracy", "Accuracy"),
    ("precision", "Precision"),
    ("recall", "Recall"),
    ("f1", "F1"),
    ("cost_per_doc", "$/doc"),
    ("latency_ms_per_doc", "Latency/doc (ms)"),
    ("disagreement_rate", "Disagreement rate"),
]


@role_required(ANALYST)
def evaluation_detail(request, evaluation_id: int):
    current = _get_evaluation_for_user(request, evaluation_id)
    together = Evaluation.objects.filter(group=current.group).select_related("pipeline").order_by("id")
    rows = evaluation.side_by_side(together)
    current.refresh_from_db()
    before = evaluation.previous(current) if current.status == Evaluation.Status.COMPLETE else None
    context = {
        "evaluation": current,
        "rows": rows,
        "live": any(row["evaluation"].status != Evaluation.Status.COMPLETE for row in rows),
        "types": (current.figures or {}).get("types", {}),
        "fields": (current.figures or {}).get("fields", {}),
        "previous": before,
        "changes": _changes(before.figures, current.figures) if before else [],
    }
    if request.htmx:
        return render(request, "insights/evaluation.html#report", context)
    return render(request, "insights/evaluation.html", context)


def _changes(before: dict, after: dict) -> list[dict]:
    rows = []
    for key, label in COMPARED_FIGURES:
        old, new = before.get(key), after.get(key)
        change = round(new - old, 6) if old is not None and new is not None else None
        rows.append({"label": label, "before": old, "after": new, "change": change})
    return rows
