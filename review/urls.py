from django.urls import path

from . import views

app_name = "review"
urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("items/<int:item_id>/", views.item, name="item"),
]
