import pytest


@pytest.mark.django_db
def test_login_page_renders(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert b"Log in to Quorum" in response.content


def test_anonymous_visitor_is_sent_to_login(client, db):
    response = client.get("/documents/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
