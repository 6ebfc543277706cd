from django.urls import path

from . import views

app_name = "documents"
urlpatterns = [
    path("", views.document_list, name="list"),
    path("upload/", views.upload, name="upload"),
    path("<int:document_id>/", views.detail, name="detail"),
    path("<int:document_id>/download/", views.download, name="download"),
]
