"""Who may do what. Three groups, each including the one before it:
analyst (upload, run, read), reviewer (+ decide review items), admin (+ configure)."""

from collections.abc import Callable
from functools import wraps

from django.core.exceptions import PermissionDenied

ANALYST = "analyst"
REVIEWER = "reviewer"
ADMIN = "admin"
ROLES = [ANALYST, REVIEWER, ADMIN]


def has_role(user, role: str) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    names = _group_names(user)
    return any(name in names for name in ROLES[ROLES.index(role) :])


def _group_names(user) -> set[str]:
    # Cached on the user object: a page asks several times per request.
    if not hasattr(user, "_quorum_groups"):
        user._quorum_groups = set(user.groups.values_list("name", flat=True))
    return user._quorum_groups


def role_required(role: str) -> Callable:
    """Refuse (403) a signed-in user without the role; LoginRequiredMiddleware
    has already sent anonymous visitors to the login page."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not has_role(request.user, role):
                raise PermissionDenied(f"This page needs the {role} role.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
