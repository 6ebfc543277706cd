from functools import cached_property

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.db.models import Count, Prefetch, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from config.roles import ADMIN, ANALYST, REVIEWER, has_role, role_required
from documents.models import Document
from orchestrator.models import Step

from .forms import AssignForm, DecisionForm, InboxFilterForm, MetricsForm, SupersedeForm
from .highlight import highlight_excerpt
from .inbox_order import Order, next_for
from .metrics import reviewer_metrics
from .models import AlreadyDecided, ClaimedByOther, NotDecided, NotYours, ReviewItem, ReviewLink, sla
from .tables import InboxTable, PagedRows, judge_in_words

INBOX_PER_PAGE = 25
# What the inbox rows show; never the document's text or the positions.
INBOX_FIELDS = (
    "title", "reason", "status", "judge", "created_at", "claim_expires_at", "claimed_by__username",
    "pipeline__name", "run__document__original_name",
)  # fmt: skip


def _get_item_for_user(request: HttpRequest, item_id: int) -> tuple[ReviewItem, bool]:
    """The item, and whether this user may claim and decide it (analysts only read)."""
    item = get_object_or_404(
        ReviewItem.objects.select_related("run__document", "run__pipeline", "claimed_by"), pk=item_id
    )
    return item, has_role(request.user, REVIEWER)


def _inbox_form(request: HttpRequest) -> InboxFilterForm:
    """The inbox's filters as carried in the query string; the defaults when they are stale."""
    form = InboxFilterForm(request.GET)
    if not form.is_valid():
        form = InboxFilterForm({})
        form.is_valid()
    return form


def _with_query(url: str, query: str) -> str:
    return f"{url}?{query}" if query else url


def _when(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


class CountedPaginator(Paginator):
    """A paginator told the row count: the inbox has just counted its items per
    reason, so a second COUNT over the same rows would be waste."""

    def __init__(self, object_list, per_page, *, count: int, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self._known_count = count

    @cached_property
    def count(self) -> int:
        return self._known_count


@never_cache  # pages that change: Back must ask again, never show a stale state
@role_required(ANALYST)
def inbox(request: HttpRequest) -> HttpResponse:
    form = InboxFilterForm(request.GET)
    now = timezone.now()
    if form.is_valid():
        items = form.narrow(ReviewItem.objects.pending(), request.user, now)
        # Counted before the reason filter, so each count says what choosing it would show.
        counts = _count_by_reason(items, now)
        items, reason, order = form.by_reason(items), form.cleaned_data["reason"], form.order(now)
    else:
        # A stale link (say, to a pipeline since renamed) shows the error, not everything.
        items, counts, reason, order = ReviewItem.objects.none(), {}, "", Order(now=now)
    shown = [count for value, count in counts.items() if not reason or value == reason]
    items = (
        items.select_related("pipeline", "run__document", "claimed_by")
        .only(*INBOX_FIELDS)
        .prefetch_related(Prefetch("links", queryset=ReviewLink.objects.only("item_id", "run_id")))
    )
    table = InboxTable(PagedRows(items), ordering=order, user=request.user, query=form.query())
    _paginate(table, request, total=sum(count["n"] for count in shown))
    ctx = {
        "form": form,
        "table": table,
        "reason_links": _reason_links(request, counts),
        "overdue": sum(count["overdue"] for count in shown),
        "sla_hours": f"{sla().total_seconds() / 3600:g}",
    }
    if request.htmx:
        return render(request, "review/inbox.html#inbox-table", ctx)
    doc_types = Document.objects.exclude(doc_type="").order_by("doc_type").values_list("doc_type", flat=True)
    form.fields["doc_type"].widget.choices = [("", "Any type"), *((value, value) for value in doc_types.distinct())]
    return render(request, "review/inbox.html", ctx)


def _paginate(table: InboxTable, request: HttpRequest, total: int) -> None:
    try:
        page = int(request.GET.get("page", 1))
    except ValueError:
        page = 1
    try:
        table.paginate(CountedPaginator, per_page=INBOX_PER_PAGE, page=page, count=total)
    except (EmptyPage, PageNotAnInteger):
        # Deciding items empties pages: a refresh lands on the last one left.
        table.paginate(CountedPaginator, per_page=INBOX_PER_PAGE, page=table.paginator.num_pages, count=total)


def _count_by_reason(items, now) -> dict[str, dict[str, int]]:
    """{reason: {"n": waiting, "overdue": of which past the SLA}}, in one query."""
    rows = (
        items.order_by()
        .values("reason")
        .annotate(n=Count("id"), overdue=Count("id", filter=Q(created_at__lte=now - sla())))
    )
    return {row["reason"]: {"n": row["n"], "overdue": row["overdue"]} for row in rows}


def _reason_links(request: HttpRequest, counts: dict[str, dict[str, int]]) -> list[dict]:
    """One link per reason with items waiting (plus "all"), keeping the other filters."""
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("reason", None)
    total = sum(count["n"] for count in counts.values())
    links = [{"value": "", "label": "All", "count": total, "query": query.urlencode()}]
    for value, label in ReviewItem.Reason.choices:
        count = counts.get(value, {}).get("n", 0)
        if count or request.GET.get("reason") == value:
            query["reason"] = value
            links.append({"value": value, "label": label, "count": count, "query": query.urlencode()})
    return links


@never_cache  # pages that change: Back must ask again, never show a stale state
@role_required(ANALYST)
def item(request: HttpRequest, item_id: int) -> HttpResponse:
    item, can_decide = _get_item_for_user(request, item_id)
    return _render_item(request, item, can_decide)


def _render_item(
    request: HttpRequest,
    item: ReviewItem,
    can_decide: bool,
    form: DecisionForm | None = None,
    supersede_form: SupersedeForm | None = None,
    status: int = 200,
) -> HttpResponse:
    now = timezone.now()
    run, document = item.run, item.run.document
    positions = item.positions or {}
    decision = item.current_decision()
    is_admin = has_role(request.user, ADMIN)
    held_by_other = item.is_held_by_other(request.user, now)
    quotes = item.quotes()
    # A long document is shown around its evidence, not whole (a page of megabytes helps nobody).
    document_html, found, shown_chars = highlight_excerpt(document.text, quotes)
    nav = _inbox_form(request)
    query = nav.query()
    previous, following = _neighbours(request, item, nav, now)
    refusal = "" if item.is_resolved else item.may_decide(request.user, arbiter=is_admin)
    if decision is None and can_decide and not held_by_other and not refusal and form is None:
        form = DecisionForm(item=item, document_text=document.text)
    if decision is not None and is_admin and supersede_form is None:
        supersede_form = SupersedeForm(item=item, document_text=document.text, initial={"supersedes": decision.pk})
    ctx = {
        "item": item,
        "run": run,
        "document": document,
        "sides": [("a", "A", positions.get("a")), ("b", "B", positions.get("b"))] if item.has_advocates else [],
        "machine": item.machine_finding(),
        "links": list(item.links.all()),
        "group": [
            {
                **member,
                "sides": list(
                    dict.fromkeys(
                        (member.get(side) or {}).get("evidence", "")
                        for side in ("a", "b", "finding")
                        if (member.get(side) or {}).get("evidence")
                    )
                ),
            }
            for member in item.group()
        ],
        "unquoted": [label.upper() for label, quote in quotes if quote and label not in found],
        "judge": item.judge or {},
        "recommendation": judge_in_words(item.judge or {}),
        "criteria": _criteria(item),
        "stand_in": bool((run.result or {}).get("stand_in")),
        "document_html": document_html,
        "text_cut": shown_chars < len(document.text),
        "shown_chars": shown_chars,
        "history": item.history(now, viewer=request.user, admin=is_admin),
        "refusal": refusal,
        "decision": decision,
        "can_decide": can_decide,
        "is_admin": is_admin,
        "held_by_other": held_by_other,
        "held_by_me": item.claim_is_live(now) and item.claimed_by_id == request.user.pk,
        "overdue": item.is_overdue(now),
        "form": form,
        "supersede_form": supersede_form,
        "assign_form": AssignForm() if is_admin and not item.is_resolved else None,
        "query": query,
        "previous": previous,
        "following": following,
    }
    return render(request, "review/item.html", ctx, status=status)


def _neighbours(request: HttpRequest, item: ReviewItem, nav: InboxFilterForm, now) -> tuple:
    """The items before and after this one in the inbox as the reviewer filtered
    and sorted it; for a reviewer, only those they could take."""
    items = nav.by_reason(nav.narrow(ReviewItem.objects.pending(), request.user, now))
    if has_role(request.user, REVIEWER):
        items = items.takeable_by(request.user, now)
    items = items.exclude(pk=item.pk).only("id")
    order = nav.order(now)
    return order.neighbour(items, item, backwards=True), order.neighbour(items, item)


def _criteria(item: ReviewItem) -> list[dict]:
    """The rubric criteria the judge cited, as the rubric version it used states them."""
    cited = [str(criterion) for criterion in (item.judge or {}).get("criteria") or []]
    if not cited:
        return []
    step = (
        Step.objects.filter(run_id=item.run_id, key__endswith="judge", rubric_version__isnull=False)
        .select_related("rubric_version")
        .only("rubric_version__criteria", "rubric_version__number")
        .first()
    )
    known = {str(criterion.get("id")): criterion for criterion in (step.rubric_version.criteria if step else [])}
    return [known.get(criterion, {"id": criterion}) for criterion in cited]


@require_POST
@role_required(ANALYST)
def claim(request: HttpRequest, item_id: int) -> HttpResponse:
    item, can_decide = _get_item_for_user(request, item_id)
    if not can_decide:
        raise PermissionDenied("Only reviewers can claim review items.")
    refusal = item.may_decide(request.user, arbiter=has_role(request.user, ADMIN))
    if item.is_resolved:
        messages.info(request, "This item has already been decided.")
    elif refusal:
        messages.error(request, refusal)
    elif item.claim(request.user):
        messages.success(request, f"Claimed until {_when(item.claim_expires_at)}.")
    else:
        messages.error(request, f"Claimed by {item.claimed_by} until {_when(item.claim_expires_at)}.")
    return redirect(_with_query(item.get_absolute_url(), InboxFilterForm(request.GET).query()))


@require_POST
@role_required(ANALYST)
def release(request: HttpRequest, item_id: int) -> HttpResponse:
    item, can_decide = _get_item_for_user(request, item_id)
    if not can_decide:
        raise PermissionDenied("Only reviewers can release review items.")
    query = InboxFilterForm(request.GET).query()
    if item.claimed_by_id == request.user.pk:
        if item.release(request.user):
            messages.success(request, "Released: the item is back in the inbox.")
        return redirect(_with_query(reverse("review:inbox"), query))
    if not has_role(request.user, ADMIN):
        raise PermissionDenied("Only an admin can release someone else's claim.")
    holder = item.claimed_by
    if holder is not None and item.release(holder, by=request.user):
        messages.success(request, f"Released {holder}'s claim.")
    return redirect(_with_query(item.get_absolute_url(), query))


@require_POST
@role_required(ADMIN)
def assign(request: HttpRequest, item_id: int) -> HttpResponse:
    item, _ = _get_item_for_user(request, item_id)
    form = AssignForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a reviewer to assign the item to.")
    elif item.reassign(form.cleaned_data["reviewer"], by=request.user):
        messages.success(request, f"Assigned to {item.claimed_by} until {_when(item.claim_expires_at)}.")
    else:
        messages.info(request, "This item has already been decided.")
    return redirect(_with_query(item.get_absolute_url(), InboxFilterForm(request.GET).query()))


@require_POST
@role_required(ANALYST)
def decide(request: HttpRequest, item_id: int) -> HttpResponse:
    item, can_decide = _get_item_for_user(request, item_id)
    if not can_decide:
        raise PermissionDenied("Only reviewers can decide review items.")
    form = DecisionForm(request.POST, item=item, document_text=item.run.document.text)
    if not form.is_valid():
        return _render_item(request, item, can_decide, form=form, status=400)
    query = InboxFilterForm(request.GET).query()
    try:
        decision = item.decide(
            request.user, form.cleaned_data["choice"], form.cleaned_data["note"].strip(), form.seconds_spent(),
            value=form.value(), arbiter=has_role(request.user, ADMIN),
        )  # fmt: skip
    except NotYours as refused:
        messages.error(request, f"{refused} Your decision was not recorded.")
        return redirect(_with_query(item.get_absolute_url(), query))
    except AlreadyDecided as refused:
        theirs = refused.decision
        if theirs is None:
            messages.error(request, "This item was decided meanwhile. Your decision was not recorded.")
            return redirect(_with_query(item.get_absolute_url(), query))
        messages.error(
            request,
            f"Already decided by {theirs.decided_by} at {_when(theirs.created_at)}: "
            f"{theirs.get_choice_display()}. Your decision was not recorded.",
        )
        return redirect(_with_query(item.get_absolute_url(), query))
    except ClaimedByOther as refused:
        holder = refused.item
        messages.error(
            request,
            f"Claimed by {holder.claimed_by} until {_when(holder.claim_expires_at)}. Your decision was not recorded.",
        )
        return redirect(_with_query(item.get_absolute_url(), query))
    messages.success(request, f"Decided “{item.title}”: {decision.get_choice_display()}.")
    if item.escalated and decision.stage == decision.Stage.SECOND:
        messages.warning(request, "The first reviewer decided otherwise: an admin will settle it.")
    elif decision.stage == decision.Stage.FIRST and item.reviews_needed > 1:
        messages.info(request, "This item needs a second reviewer, who will see your decision after theirs.")
    nav, now = _inbox_form(request), timezone.now()
    following = next_for(request.user, nav.by_reason(nav.narrow(ReviewItem.objects.pending(), request.user, now)),
                         item, nav.order(now))  # fmt: skip
    if following is None:
        messages.info(request, "No items left that you can take: the inbox is clear.")
        return redirect(_with_query(reverse("review:inbox"), query))
    return redirect(_with_query(following.get_absolute_url(), query))


@require_POST
@role_required(ADMIN)
def supersede(request: HttpRequest, item_id: int) -> HttpResponse:
    item, can_decide = _get_item_for_user(request, item_id)
    form = SupersedeForm(request.POST, item=item, document_text=item.run.document.text)
    if not form.is_valid():
        return _render_item(request, item, can_decide, supersede_form=form, status=400)
    previous = item.decisions.filter(pk=form.cleaned_data["supersedes"]).first()
    try:
        if previous is None:
            raise NotDecided(item.current_decision())
        decision = item.supersede(
            request.user, previous, form.cleaned_data["choice"], form.cleaned_data["note"].strip(),
            value=form.value(), seconds_spent=form.seconds_spent(),
        )  # fmt: skip
    except NotDecided as refused:
        standing = refused.decision
        who = f" by {standing.decided_by} at {_when(standing.created_at)}" if standing else ""
        messages.error(request, f"That decision no longer stands (it was superseded{who}). Nothing was changed.")
    else:
        messages.success(request, f"Superseded: {decision.get_choice_display()} now stands.")
    return redirect(_with_query(item.get_absolute_url(), InboxFilterForm(request.GET).query()))


@role_required(REVIEWER)
def metrics(request: HttpRequest) -> HttpResponse:
    form = MetricsForm(request.GET or None)
    if form.is_valid():
        figures = reviewer_metrics(form.cleaned_data["days"], form.cleaned_data["pipeline"])
    else:
        figures = reviewer_metrics(MetricsForm.DEFAULT_DAYS)
    return render(request, "review/metrics.html", {"form": form, "m": figures})
