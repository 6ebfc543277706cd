"""The JSON API at /api/v1/, its OpenAPI schema (/api/v1/openapi.json) and its
interactive docs (/api/v1/docs, for signed-in users; assets from static files).
Every error answers {"error": "...", "fields": {"name": ["..."]}}."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from config.roles import ANALYST

from .auth import ApiError, access
from .documents import router as documents
from .models import ApiToken, Scope
from .pipelines import router as pipelines
from .review import router as review
from .runs import router as runs


def _signed_in(view):
    """The docs and schema: for a signed-in user, or (the schema) a live token."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs):
        if request.user.is_authenticated:
            return view(request, *args, **kwargs)
        bearer = request.headers.get("Authorization", "")
        if bearer.lower().startswith("bearer ") and ApiToken.authenticate(bearer[7:].strip()):
            return view(request, *args, **kwargs)
        if request.path.endswith(".json"):
            return JsonResponse({"error": "Sign in, or send a token: Authorization: Bearer <token>."}, status=401)
        return redirect_to_login(request.get_full_path())

    return wrapped


api = NinjaAPI(
    title="Quorum API",
    version="1",
    description=(
        "Upload documents, run pipelines, read results and work the review inbox. "
        "Authenticate with `Authorization: Bearer <token>` (create tokens on your settings page), "
        "or a signed-in session with its CSRF token."
    ),
    urls_namespace="api-v1",
    # Each endpoint names its role and scope; this is the floor for any that forgets.
    auth=access(ANALYST, Scope.READ),
    docs_decorator=_signed_in,
)
api.add_router("/documents", documents)
api.add_router("/runs", runs)
api.add_router("/review-items", review)
api.add_router("/pipelines", pipelines)


def _error(request, status: int, message: str, fields: dict | None = None):
    return api.create_response(request, {"error": message, "fields": fields or {}}, status=status)


@api.exception_handler(ApiError)
def _api_error(request, error: ApiError):
    return _error(request, error.status, error.message, error.fields)


@api.exception_handler(ValidationError)
def _validation_error(request, error: ValidationError):
    fields: dict[str, list[str]] = {}
    for problem in error.errors:
        # loc is (source, name, ...): ("body", "payload", "choice") or ("query", "status").
        names = [str(part) for part in problem.get("loc", ())[1:] if part != "payload"]
        fields.setdefault(".".join(names) or "request", []).append(problem.get("msg", "invalid"))
    return _error(request, 422, "The request is not valid: see fields.", fields)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, error):
    return _error(request, 401, "Not signed in, or the token is unknown, revoked or its user deactivated.")


@api.exception_handler(HttpError)
def _http_error(request, error: HttpError):
    return _error(request, error.status_code, str(error))


@api.exception_handler(Http404)
def _not_found(request, error):
    return _error(request, 404, "Not found.")


@api.exception_handler(PermissionDenied)
def _forbidden(request, error):
    return _error(request, 403, str(error) or "Not allowed.")


# Django's own 404 and 500 (config.urls handler404/handler500): a URL under the API
# that matches no endpoint (/api/v1/runs/abc) or a crash answers in the API's shape,
# JSON, not the site's HTML page; every other URL gets the site's page.
PREFIX = "/api/"


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith(PREFIX):
        return JsonResponse({"error": "Not found: no such endpoint or object.", "fields": {}}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith(PREFIX):
        message = "Server error: it has been logged and nothing you saved is lost; try again in a moment."
        return JsonResponse({"error": message, "fields": {}}, status=500)
    return defaults.server_error(request)


def urls():
    """The API's URL patterns. They authenticate themselves (a token or the
    session), so the site-wide LoginRequiredMiddleware must let them through."""
    patterns, app_name, namespace = api.urls
    _let_through(patterns)
    return patterns, app_name, namespace


def _let_through(patterns) -> None:
    for pattern in patterns:
        if hasattr(pattern, "url_patterns"):
            _let_through(pattern.url_patterns)
        else:
            pattern.callback.login_required = False
