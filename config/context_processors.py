from .roles import ADMIN, ANALYST, REVIEWER, has_role


def roles(request) -> dict:
    user = getattr(request, "user", None)
    if user is None:
        return {}
    return {
        "is_analyst": has_role(user, ANALYST),
        "is_reviewer": has_role(user, REVIEWER),
        "is_admin": has_role(user, ADMIN),
    }
