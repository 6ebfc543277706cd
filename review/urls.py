from django.urls import path

from . import views

app_name = "review"
urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("metrics/", views.metrics, name="metrics"),
    path("items/<int:item_id>/", views.item, name="item"),
    path("items/<int:item_id>/claim/", views.claim, name="claim"),
    path("items/<int:item_id>/release/", views.release, name="release"),
    path("items/<int:item_id>/assign/", views.assign, name="assign"),
    path("items/<int:item_id>/decide/", views.decide, name="decide"),
    path("items/<int:item_id>/supersede/", views.supersede, name="supersede"),
]
