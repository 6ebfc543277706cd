"""Reviewer metrics on a known set of decisions: throughput per reviewer per day,
median time, judge overturn rate, disagreement precision and the agreed-error
rate with its Wilson interval."""

from datetime import UTC, date, datetime, timedelta

import pytest

from review.metrics import Rate, reviewer_metrics, wilson
from review.models import Decision
from tests.test_review import liability_audit, make_run, renewal_disputed

TODAY = date(2026, 11, 20)


def _at(day_offset: int, hour: int = 12) -> datetime:
    return datetime(2026, 11, 20, hour, tzinfo=UTC) - timedelta(days=day_offset)


def _decide(item, user, choice, *, day: int, seconds: int | None, note: str = "because", value=None) -> Decision:
    return item.decide(user, choice, note, seconds_spent=seconds, value=value, now=_at(day))


def test_wilson_interval_matches_the_textbook_values():
    low, high = wilson(1, 10)
    assert low == pytest.approx(0.01788, abs=1e-4)
    assert high == pytest.approx(0.40415, abs=1e-4)
    low, high = wilson(0, 20)
    assert low == 0
    assert high == pytest.approx(0.16113, abs=1e-4)
    assert wilson(0, 0) is None
    assert Rate(3, 12).share == 0.25 and Rate(0, 0).share is None


@pytest.fixture
def known_set(reviewer, second_reviewer, admin_user):
    """Four disagreements, five audit samples, one superseded decision:

    disagreements (machine says issue, judge accept_a):
      daniel accept_a (kept)             20 s  today
      daniel not_issue (changed, over)   40 s  today
      rosa   accept_b (changed, over)    60 s  yesterday
      rosa   accept_a (kept)             —     3 days ago (no time)
    audit samples (agreed, judge accept_a):
      daniel accept_a ×3 (right)         10 s each, today
      rosa   not_issue (wrong)           80 s  yesterday, then superseded by priya -> accept_a (right)
      rosa   custom (wrong: edited)      30 s  yesterday
    """
    disputes = [make_run([renewal_disputed()]).review_items.get() for _ in range(4)]
    audits = [make_run([liability_audit()]).review_items.get() for _ in range(5)]
    _decide(disputes[0], reviewer, "accept_a", day=0, seconds=20)
    _decide(disputes[1], reviewer, "not_issue", day=0, seconds=40)
    _decide(disputes[2], second_reviewer, "accept_b", day=1, seconds=60)
    _decide(disputes[3], second_reviewer, "accept_a", day=3, seconds=None)
    for audit in audits[:3]:
        _decide(audit, reviewer, "accept_a", day=0, seconds=10)
    wrong = _decide(audits[3], second_reviewer, "not_issue", day=1, seconds=80)
    audits[3].supersede(admin_user, wrong, "accept_a", "Liability is unlimited: clause 2.", now=_at(0, hour=15))
    edit = {"title": "Liability uncapped", "severity": "high", "evidence": "", "explanation": ""}
    _decide(audits[4], second_reviewer, "custom", day=1, seconds=30, value=edit)


def test_metrics_arithmetic_on_a_known_set(known_set):
    m = reviewer_metrics(days=7, today=TODAY)
    assert m.days[0] == TODAY - timedelta(days=6) and m.days[-1] == TODAY
    assert m.decided == 10  # nine first decisions and priya's superseding one
    # Median of 20, 40, 60, 10, 10, 10, 80, 30 (priya's and one of rosa's have no time).
    assert m.median_s == pytest.approx(25)
    rows = {row.username: row for row in m.reviewers}
    assert rows["daniel"].decided == 5 and rows["daniel"].per_day[-1] == 5
    assert rows["daniel"].median_s == pytest.approx(10)  # 10, 10, 10, 20, 40
    assert rows["rosa"].decided == 4
    assert rows["rosa"].per_day[-2] == 3 and rows["rosa"].per_day[-4] == 1
    assert rows["rosa"].median_s == pytest.approx(60)  # 30, 60, 80
    assert rows["priya"].decided == 1 and rows["priya"].median_s is None
    assert m.per_day[-1] == 6 and m.per_day[-2] == 3 and m.per_day[-4] == 1
    assert sum(m.per_day) == 10

    # Standing decisions only: 9 items, all with a judge recommendation.
    # Overturned: not_issue and accept_b on disputes, the edit on an audit = 3 of 9.
    assert (m.overturn.hits, m.overturn.n) == (3, 9)
    # Disagreements where the outcome changed: not_issue and accept_b = 2 of 4.
    assert (m.precision.hits, m.precision.n) == (2, 4)
    # Audit samples wrong: the edit (the not_issue was superseded) = 1 of 5.
    assert (m.agreed_error.hits, m.agreed_error.n) == (1, 5)
    low, high = m.agreed_error.interval
    assert low == pytest.approx(0.03622, abs=1e-4)
    assert high == pytest.approx(0.62450, abs=1e-4)


def test_metrics_follow_the_period_and_the_pipeline(known_set, reviewer):
    today_only = reviewer_metrics(days=1, today=TODAY)
    assert today_only.decided == 6
    assert (today_only.precision.hits, today_only.precision.n) == (1, 2)
    other = make_run([renewal_disputed()], pipeline_slug="other").review_items.get()
    _decide(other, reviewer, "not_issue", day=0, seconds=5)
    assert reviewer_metrics(days=1, today=TODAY).decided == 7
    assert reviewer_metrics(days=1, today=TODAY, pipeline=other.run.pipeline).decided == 1


def test_metrics_page_shows_the_figures(client_for, reviewer, known_set, settings):
    page = client_for(reviewer).get("/review/metrics/", {"days": "90"}).text
    assert "Agreed-error rate" in page
    assert "95% interval" in page and "(Wilson)" in page
    assert "<td>daniel</td>" in page and "<td>rosa</td>" in page


def test_metrics_page_with_no_decisions_says_so(client_for, reviewer):
    page = client_for(reviewer).get("/review/metrics/").text
    assert "No decisions in this period." in page
    assert "sample size 0" in page
