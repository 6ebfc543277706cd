from django.urls import path

from . import views

app_name = "orchestrator"
urlpatterns = [
    path("runs/", views.runs, name="runs"),
    path("runs/export.csv", views.export_runs, name="runs_export"),
    path("runs/findings.csv", views.export_findings, name="findings_export"),
    path("runs/steps.csv", views.export_steps, name="steps_export"),
    path("runs/compare/", views.compare_runs, name="compare"),
    path("runs/<int:run_id>/", views.run_detail, name="run"),
    path("runs/<int:run_id>/trace/", views.run_trace, name="trace"),
    path("runs/<int:run_id>/steps/<int:step_id>/", views.step_detail, name="step"),
    path("runs/<int:run_id>/steps/<int:step_id>/replay", views.replay, name="replay"),
    path("documents/<int:document_id>/runs/", views.start, name="start"),
    path("pipelines/", views.pipelines, name="pipelines"),
    path("pipelines/<slug:slug>/", views.pipeline_detail, name="pipeline"),
]
