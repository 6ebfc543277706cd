from django.urls import path

from . import views

app_name = "insights"
urlpatterns = [
    path("dashboard/", views.dashboard_page, name="dashboard"),
    path("estimate/", views.estimate, name="estimate"),
    path("spend/", views.spend_page, name="spend"),
    path("evaluations/", views.evaluations, name="evaluations"),
    path("evaluations/<int:evaluation_id>/", views.evaluation_detail, name="evaluation"),
]
