from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic.base import RedirectView

from api.v1 import urls as api_urls
from orchestrator import views as orchestrator_views

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="documents:list"), name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("documents/", include("documents.urls")),
    path("", include("orchestrator.urls")),
    path("review/", include("review.urls")),
    path("", include("insights.urls")),
    path("api/v1/", api_urls()),
    path("settings/", include("api.urls")),
    path("healthz", orchestrator_views.healthz, name="healthz"),
    path("admin/rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
]

# JSON under /api/, the site's pages elsewhere.
handler404 = "api.v1.not_found"
handler500 = "api.v1.server_error"
