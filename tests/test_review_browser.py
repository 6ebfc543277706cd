"""Journey 2 in Chromium: a reviewer works three items with the keyboard alone,
and the screenshots of each page are kept under test-results/screenshots/."""

from datetime import timedelta

import pytest

from review.models import Decision
from tests.conftest import PASSWORD
from tests.test_review import LIABILITY, PAYMENT, RENEWAL, make_run, renewal_disputed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Long enough that the quoted sentence starts below the fold of the document box.
QUERY = "?pipeline=contract-debate"
PREAMBLE = "\n".join(f"{n}. Definitions and interpretation, clause {n}, of no consequence here." for n in range(1, 60))
CONTRACT = f"MASTER SUPPLY AGREEMENT\n\n{PREAMBLE}\n60. {LIABILITY}\n61. {RENEWAL}\n62. {PAYMENT}\n"


def _press(page, key: str) -> None:
    page.keyboard.press(key)


def _wait_for(page, path: str) -> None:
    page.wait_for_url(lambda url: url.endswith(path))


def test_reviewer_works_three_items_with_the_keyboard_alone(live_server, page, reviewer, screenshot):
    first, second, third = (
        make_run([renewal_disputed()], text=CONTRACT, age=timedelta(minutes=30 - n)).review_items.get()
        for n in range(3)
    )
    # Older and overdue, but in another pipeline: the reviewer's filter leaves it out.
    make_run([renewal_disputed()], text=CONTRACT, pipeline_slug="other-debate", age=timedelta(hours=30))
    page.goto(f"{live_server.url}/accounts/login/?next=/review/%3Fpipeline%3Dcontract-debate")
    page.fill("input[name=username]", reviewer.username)
    page.fill("input[name=password]", PASSWORD)
    _press(page, "Enter")
    _wait_for(page, QUERY)
    screenshot("review-1-inbox")

    # ? shows the keys; Esc closes them.
    _press(page, "?")
    assert page.locator("#keys-help").is_visible()
    screenshot("review-2-keys")
    _press(page, "Escape")
    assert not page.locator("#keys-help").is_visible()

    # j selects the first row, Enter opens it.
    _press(page, "j")
    assert page.locator("tr.selected").get_attribute("data-item") == str(first.pk)
    _press(page, "Enter")
    _wait_for(page, f"{first.get_absolute_url()}{QUERY}")
    # The quoted sentence is scrolled into view inside the document box.
    page.wait_for_function(
        "() => { const m = document.querySelector('.doctext mark'); "
        "const box = m.closest('.doctext').getBoundingClientRect(); "
        "const r = m.getBoundingClientRect(); return r.top >= box.top && r.bottom <= box.bottom; }"
    )
    screenshot("review-3-item")

    # j and k step through the inbox as filtered, without deciding anything.
    _press(page, "j")
    _wait_for(page, f"{second.get_absolute_url()}{QUERY}")
    _press(page, "k")
    _wait_for(page, f"{first.get_absolute_url()}{QUERY}")

    # 1. s: the finding stands (as the judge recommends), a note anyway, Enter: the next item opens by itself.
    assert "Recommends: the finding stands" in page.locator("section.judge").inner_text()
    _press(page, "s")
    assert page.is_checked("input[name=choice][value=stands]")
    page.keyboard.type("Clause 61 renews by itself.")
    _press(page, "Enter")
    _wait_for(page, f"{second.get_absolute_url()}{QUERY}")
    assert page.locator(".messages").inner_text().startswith("Decided")

    # 2. e: edit the finding; Tab through the fields, a note, Enter.
    _press(page, "e")
    assert page.locator("fieldset.custom-fields").is_visible()
    page.keyboard.type("Automatic renewal, one-year terms")
    _press(page, "Tab")  # severity: typing picks the option
    page.keyboard.type("m")
    _press(page, "Tab")  # evidence: keep the quote
    _press(page, "Tab")  # explanation: replace it
    _press(page, "Control+a")
    page.keyboard.type("Renews without a notice window.")
    _press(page, "Tab")  # note
    page.keyboard.type("A is right but overstates the severity.")
    screenshot("review-4-edit")
    _press(page, "Enter")
    _wait_for(page, f"{third.get_absolute_url()}{QUERY}")

    # 3. n: not an issue, with the note it needs.
    _press(page, "n")
    page.keyboard.type("Duplicate of an earlier finding.")
    screenshot("review-5-not-an-issue")
    _press(page, "Enter")
    _wait_for(page, f"/review/{QUERY}")
    assert "the inbox is clear" in page.locator(".messages").inner_text()
    screenshot("review-6-inbox-clear")

    decisions = {decision.item_id: decision for decision in Decision.objects.select_related("decided_by")}
    assert decisions[first.pk].choice == "stands" and decisions[first.pk].is_issue is True
    assert decisions[first.pk].note == "Clause 61 renews by itself."
    assert decisions[second.pk].choice == "custom"
    assert decisions[second.pk].value["title"] == "Automatic renewal, one-year terms"
    assert decisions[second.pk].value["severity"] == "medium"
    assert decisions[second.pk].value["evidence"] == RENEWAL
    assert decisions[second.pk].value["explanation"] == "Renews without a notice window."
    assert decisions[third.pk].choice == "not_issue"
    for decision in decisions.values():
        assert decision.decided_by == reviewer
        assert decision.seconds_spent is not None

    page.goto(f"{live_server.url}/review/metrics/")
    screenshot("review-7-metrics")
    assert "<td>daniel</td>" in page.content()
