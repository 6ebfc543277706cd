"""The one exception to Quorum's Content-Security-Policy: django-rq's dashboard
(staff only, under /admin/rq/ and /admin/django_rq/) ships inline <style> and <script> without
nonces, so its pages get a policy that allows inline code from Quorum's own
origin and nothing more."""

from django.conf import settings
from django.utils.csp import CSP


def _rq_dashboard_policy() -> dict:
    inline = [CSP.SELF, CSP.UNSAFE_INLINE]
    return {**settings.SECURE_CSP, "script-src": inline, "style-src": inline}


class RQDashboardPolicy:
    """Sits after ContentSecurityPolicyMiddleware in MIDDLEWARE, so the policy is
    chosen before that middleware writes the header."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        # Its own URLs, and the copy of them it mounts inside the admin (admin:django_rq_*).
        if match is not None and (match.namespace == "django_rq" or (match.url_name or "").startswith("django_rq_")):
            response._csp_config = _rq_dashboard_policy()
        return response
