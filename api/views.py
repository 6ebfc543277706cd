"""The user's settings page: API tokens (created, named, scoped, revoked; the
secret shown once) and how they hear of review work (notify's preference)."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from config.roles import REVIEWER, has_role
from notify.forms import NotificationForm
from notify.models import NotificationPreference

from .forms import TokenForm
from .models import ApiToken


def _get_token_for_user(request: HttpRequest, token_id: int) -> ApiToken:
    # A user manages only their own tokens; an admin revokes others' in Django admin.
    return get_object_or_404(ApiToken, pk=token_id, user=request.user)


def settings_page(request: HttpRequest, token_form: TokenForm | None = None, status: int = 200) -> HttpResponse:
    preference = NotificationPreference.for_user(request.user)
    context = {
        "tokens": request.user.api_tokens.all(),
        "token_form": token_form or TokenForm(),
        # Shown once, right after creation: it is not stored anywhere.
        "new_secret": request.session.pop("new_api_token", None),
        "notification_form": NotificationForm(instance=preference) if has_role(request.user, REVIEWER) else None,
    }
    return render(request, "api/settings.html", context, status=status)


@require_POST
def create_token(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST)
    if not form.is_valid():
        return settings_page(request, token_form=form, status=400)
    token, secret = ApiToken.issue(request.user, form.cleaned_data["name"], form.cleaned_data["scopes"])
    request.session["new_api_token"] = {"name": token.name, "secret": secret}
    return redirect("api:settings")


@require_POST
def revoke_token(request: HttpRequest, token_id: int) -> HttpResponse:
    token = _get_token_for_user(request, token_id)
    token.revoke()
    messages.success(request, f"Revoked “{token.name}”: it no longer works.")
    return redirect("api:settings")


@require_POST
def notifications(request: HttpRequest) -> HttpResponse:
    if not has_role(request.user, REVIEWER):
        messages.error(request, "Only reviewers get review notifications.")
        return redirect("api:settings")
    form = NotificationForm(request.POST, instance=NotificationPreference.for_user(request.user))
    if form.is_valid():
        form.save()
        messages.success(request, f"Review e-mails: {form.instance.get_digest_display().lower()}.")
    return redirect("api:settings")
