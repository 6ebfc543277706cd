"""Review e-mails: the daily digest of new and overdue items (at most one a day),
e-mails at once for reviewers who chose them, and the choice on the settings page."""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from notify.models import NotificationPreference
from tests.test_review import make_run

Digest = NotificationPreference.Digest


def choose(user, digest: str) -> None:
    NotificationPreference.objects.update_or_create(user=user, defaults={"digest": digest})


def test_daily_digest_lists_new_and_overdue_items_with_links(reviewer, analyst, db):
    new = make_run().review_items.get()
    overdue = make_run(age=timedelta(days=3), pipeline_slug="late-debate").review_items.get()
    call_command("senddigests")

    (message,) = mail.outbox  # the reviewer's; analysts do not review
    assert message.to == [reviewer.email]
    assert message.subject == "Quorum: 1 new, 1 overdue review items"
    body = message.body
    new_part, overdue_part = body.split("Overdue: waiting longer than 24 h (1):")
    assert "New review items (1):" in new_part and new.title in new_part
    assert f"http://127.0.0.1:8000/review/items/{new.pk}/" in new_part
    assert overdue.title in overdue_part and f"/review/items/{overdue.pk}/" in overdue_part
    assert "http://127.0.0.1:8000/settings/" in body


def test_a_reviewer_gets_at_most_one_digest_a_day(reviewer, db):
    first = make_run().review_items.get()
    call_command("senddigests")
    call_command("senddigests")
    assert len(mail.outbox) == 1
    # A day later: the first item has waited 26 hours, and a new one has arrived.
    NotificationPreference.objects.filter(user=reviewer).update(last_digest_at=timezone.now() - timedelta(hours=24))
    type(first).objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(hours=26))
    make_run(pipeline_slug="next-day")
    call_command("senddigests")
    assert len(mail.outbox) == 2
    # The next digest reports only what is new since the last one, and what is overdue.
    assert mail.outbox[1].subject == "Quorum: 1 new, 1 overdue review items"


def test_nothing_to_report_sends_nothing(reviewer, db):
    call_command("senddigests")
    assert mail.outbox == []


def test_reviewers_who_chose_none_or_immediate_get_no_daily_digest(reviewer, second_reviewer, db):
    choose(reviewer, Digest.NONE)
    choose(second_reviewer, Digest.IMMEDIATE)
    make_run()
    call_command("senddigests")
    assert mail.outbox == []


def test_a_deactivated_reviewer_gets_nothing(reviewer, db):
    reviewer.is_active = False
    reviewer.save()
    make_run()
    call_command("senddigests")
    assert mail.outbox == []


def test_immediate_reviewers_hear_of_items_as_they_open(
    reviewer, second_reviewer, run_jobs, django_capture_on_commit_callbacks
):
    choose(reviewer, Digest.IMMEDIATE)
    with django_capture_on_commit_callbacks(execute=True):
        item = make_run().review_items.get()
    run_jobs()
    (message,) = mail.outbox  # second_reviewer keeps the daily digest
    assert message.to == [reviewer.email]
    assert message.subject == f"Quorum: 1 new review item: {item.title}"
    assert f"/review/items/{item.pk}/" in message.body


def test_reviewer_chooses_on_the_settings_page(client, reviewer):
    client.force_login(reviewer)
    page = client.get("/settings/").content.decode()
    assert "A daily digest" in page and 'value="daily"' in page
    client.post("/settings/notifications/", {"digest": "immediate"})
    assert NotificationPreference.objects.get(user=reviewer).digest == Digest.IMMEDIATE


def test_analysts_have_no_review_e_mail_choice(client, analyst):
    client.force_login(analyst)
    assert "Review e-mails" not in client.get("/settings/").content.decode()
    client.post("/settings/notifications/", {"digest": "immediate"})
    assert not NotificationPreference.objects.filter(user=analyst, digest="immediate").exists()


@pytest.mark.parametrize("url", ["/settings/", "/settings/tokens/", "/settings/notifications/"])
def test_anonymous_visitors_are_sent_to_login(client, db, url):
    response = client.get(url)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
