"""Who is calling, and may they: `access(role, scope)` is each endpoint's `auth`.
A bearer token must be live and hold the scope; a signed-in browser session
(CSRF checked on writes) needs no scope. Either way the caller needs the same
role as the matching page (config/roles.py). The check runs before the request
body is read, so a caller without the right is told so, not about their body."""

from django.http import HttpRequest
from ninja.security import HttpBearer, SessionAuth

from config.roles import has_role

from .models import ApiToken


class ApiError(Exception):
    """A refusal the client can act on: rendered as {"error": message, "fields": {...}}."""

    def __init__(self, status: int, message: str, fields: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.status, self.message, self.fields = status, message, fields or {}


def _check(request: HttpRequest, role: str, scope: str) -> None:
    if not has_role(request.user, role):
        raise ApiError(403, f"This needs the {role} role, which {request.user.get_username()} does not have.")
    token = getattr(request, "api_token", None)
    if token is not None and not token.allows(scope):
        raise ApiError(403, f"This token lacks the {scope} scope; create one with it on the settings page.")


class TokenAccess(HttpBearer):
    def __init__(self, role: str, scope: str):
        super().__init__()
        self.role, self.scope = role, scope

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        found = ApiToken.authenticate(token.strip())
        if found is None:
            return None
        # The domain functions take request.user, as they do from a page.
        request.user, request.api_token = found.user, found
        _check(request, self.role, self.scope)
        return found


class SessionAccess(SessionAuth):
    def __init__(self, role: str, scope: str):
        super().__init__(csrf=True)
        self.role, self.scope = role, scope

    def _get_key(self, request: HttpRequest) -> str | None:
        # Only a signed-in session is held to CSRF; a bad token falls through to a plain 401.
        return super()._get_key(request) if request.user.is_authenticated else None

    def authenticate(self, request: HttpRequest, key: str | None):
        if not request.user.is_authenticated:
            return None
        request.api_token = None
        _check(request, self.role, self.scope)
        return request.user


def access(role: str, scope: str) -> list:
    return [TokenAccess(role, scope), SessionAccess(role, scope)]
