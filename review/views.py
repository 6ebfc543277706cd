from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_tables2 import RequestConfig

from config.roles import ANALYST, REVIEWER, has_role, role_required

from .forms import DecisionForm, InboxFilterForm
from .highlight import highlight
from .models import AlreadyDecided, ClaimedByOther, ReviewItem
from .tables import RECOMMENDATIONS, InboxTable

INBOX_PER_PAGE = 25


def _get_item_for_user(request: HttpRequest, item_id: int) -> tuple[ReviewItem, bool]:
    """The item, and whether this user may claim and decide it (analysts only read)."""
    item = get_object_or_404(
        ReviewItem.objects.select_related("run__document", "run__pipeline", "claimed_by"), pk=item_id
    )
    return item, has_role(request.user, REVIEWER)


def _percent(value) -> str:
    try:
        return f"{float(value):.0%}"
    except (TypeError, ValueError):
        return ""


def _when(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


@role_required(ANALYST)
def inbox(request: HttpRequest) -> HttpResponse:
    form = InboxFilterForm(request.GET)
    items = ReviewItem.objects.pending().select_related("run__pipeline", "run__document", "claimed_by")
    if form.is_valid():
        if form.cleaned_data["pipeline"]:
            items = items.filter(run__pipeline=form.cleaned_data["pipeline"])
        if form.cleaned_data["claimed"] == "me":
            items = items.claimed_by_user(request.user)
        elif form.cleaned_data["claimed"] == "unclaimed":
            items = items.unclaimed()
        # Counted before the reason filter, so each count says what choosing it would show.
        counts = dict(items.order_by().values_list("reason").annotate(n=Count("id")))
        if form.cleaned_data["reason"]:
            items = items.filter(reason=form.cleaned_data["reason"])
    else:
        # A stale link (say, to a pipeline since renamed) shows the error, not everything.
        items, counts = items.none(), {}
    table = InboxTable(items, user=request.user)
    RequestConfig(request, paginate={"per_page": INBOX_PER_PAGE}).configure(table)
    ctx = {"form": form, "table": table, "reason_links": _reason_links(request, counts)}
    template = "review/inbox.html#inbox-table" if request.htmx else "review/inbox.html"
    return render(request, template, ctx)


def _reason_links(request: HttpRequest, counts: dict[str, int]) -> list[dict]:
    """One link per reason with items waiting (plus "all"), keeping the other filters."""
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("reason", None)
    links = [{"value": "", "label": "All", "count": sum(counts.values()), "query": query.urlencode()}]
    for value, label in ReviewItem.Reason.choices:
        if counts.get(value) or request.GET.get("reason") == value:
            query["reason"] = value
            links.append({"value": value, "label": label, "count": counts.get(value, 0), "query": query.urlencode()})
    return links


@role_required(ANALYST)
def item(request: HttpRequest, item_id: int) -> HttpResponse:
    item, can_decide = _get_item_for_user(request, item_id)
    return _render_item(request, item, can_decide, DecisionForm(item=item))


def _render_item(request: HttpRequest, item: ReviewItem, can_decide: bool, form: DecisionForm, status: int = 200):
    run = item.run
    result = run.result or {}
    finding = next((f for f in result.get("findings", []) if f.get("key") == item.finding_key), {})
    positions = item.positions or {}
    quotes = [(position or {}).get("evidence", "") for position in (positions.get("a"), positions.get("b"))]
    quotes.append(finding.get("evidence", ""))
    history = [
        {"at": claim.claimed_at, "who": claim.user, "what": f"claimed it until {_when(claim.expires_at)}"}
        for claim in item.claims.select_related("user")
    ]
    history += [
        {"at": claim.released_at, "who": claim.user, "what": "released it"}
        for claim in item.claims.select_related("user").filter(released_at__isnull=False)
    ]
    history += [
        {"at": decision.created_at, "who": decision.decided_by, "decision": decision}
        for decision in item.decisions.select_related("decided_by")
    ]
    history.sort(key=lambda entry: entry["at"])
    ctx = {
        "item": item,
        "run": run,
        "sides": [("A", positions.get("a")), ("B", positions.get("b"))],
        "judge": item.judge or {},
        "recommendation": RECOMMENDATIONS.get(item.recommendation or "", ""),
        "confidence": _percent((item.judge or {}).get("confidence")),
        "stand_in": bool(result.get("stand_in")),
        "document_html": highlight(run.document.text, quotes),
        "history": history,
        "decision": item.current_decision(),
        "can_decide": can_decide,
        "held_by_other": item.is_held_by_other(request.user),
        "held_by_me": item.claim_is_live() and item.claimed_by_id == request.user.pk,
        "form": form,
    }
    return render(request, "review/item.html", ctx, status=status)


@require_POST
@role_required(ANALYST)
def claim(request: HttpRequest, item_id: int) -> HttpResponse:
    item, can_decide = _get_item_for_user(request, item_id)
    if not can_decide:
        raise PermissionDenied("Only reviewers can claim review items.")
    if item.is_resolved:
        messages.info(request, "This item has already been decided.")
    elif item.claim(request.user):
        messages.success(request, f"Claimed until {_when(item.claim_expires_at)}.")
    else:
        messages.error(request, f"Claimed by {item.claimed_by} until {_when(item.claim_expires_at)}.")
    return redirect(item)


@require_POST
@role_required(ANALYST)
def release(request: HttpRequest, item_id: int) -> HttpResponse:
    item, can_decide = _get_item_for_user(request, item_id)
    if not can_decide:
        raise PermissionDenied("Only reviewers can release review items.")
    if item.release(request.user):
        messages.success(request, "Released: the item is back in the inbox.")
    return redirect("review:inbox")


@require_POST
@role_required(ANALYST)
def decide(request: HttpRequest, item_id: int) -> HttpResponse:
    item, can_decide = _get_item_for_user(request, item_id)
    if not can_decide:
        raise PermissionDenied("Only reviewers can decide review items.")
    form = DecisionForm(request.POST, item=item)
    if not form.is_valid():
        return _render_item(request, item, can_decide, form, status=400)
    try:
        decision = item.decide(
            request.user, form.cleaned_data["choice"], form.cleaned_data["note"].strip(), form.seconds_spent()
        )
    except AlreadyDecided as refused:
        theirs = refused.decision
        messages.error(
            request,
            f"Already decided by {theirs.decided_by} at {_when(theirs.created_at)}: "
            f"{theirs.get_choice_display()}. Your decision was not recorded.",
        )
        return redirect(item)
    except ClaimedByOther as refused:
        holder = refused.item
        messages.error(
            request,
            f"Claimed by {holder.claimed_by} until {_when(holder.claim_expires_at)}. Your decision was not recorded.",
        )
        return redirect(item)
    messages.success(request, f"Decided “{item.title}”: {decision.get_choice_display()}.")
    following = item.next_for(request.user)
    if following is None:
        messages.info(request, "No items left that you can take: the inbox is clear.")
        return redirect("review:inbox")
    return redirect(following)
