from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse, JsonResponse

from config.roles import ANALYST, role_required


@role_required(ANALYST)
def runs(request):
    return HttpResponse("runs (to do)")


@role_required(ANALYST)
def export_runs(request):
    return HttpResponse("export (to do)")


@role_required(ANALYST)
def run_detail(request, run_id):
    return HttpResponse("run (to do)")


@role_required(ANALYST)
def step_detail(request, run_id, step_id):
    return HttpResponse("step (to do)")


@role_required(ANALYST)
def pipelines(request):
    return HttpResponse("pipelines (to do)")


@role_required(ANALYST)
def pipeline_detail(request, slug):
    return HttpResponse("pipeline (to do)")


@login_not_required
def healthz(request):
    return JsonResponse({"ok": True})
