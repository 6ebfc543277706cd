from django.urls import path

from . import views

app_name = "api"
urlpatterns = [
    path("", views.settings_page, name="settings"),
    path("tokens/", views.create_token, name="create_token"),
    path("tokens/<int:token_id>/revoke", views.revoke_token, name="revoke_token"),
    path("notifications/", views.notifications, name="notifications"),
]
