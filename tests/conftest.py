"""The fixed cast (analyst, reviewer, admin, outsider) and helpers to run RQ
jobs for real. Tests run against the PostgreSQL and Valkey named by
DATABASE_URL / REDIS_URL: the embedded ones under `make test`."""

import os
import shutil

import django_rq
import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from rq.worker import SimpleWorker

from config.roles import ADMIN, ANALYST, REVIEWER

# Playwright's sync API runs an event loop in the test thread; the ORM calls in
# the same tests are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(autouse=True)
def _isolated_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _fresh_config_cache():
    """Each test's database starts over (its transaction rolled back, no signal
    sent): no process may keep prices or limits cached from the last test."""
    from orchestrator import configcache

    configcache.forget()


def _user(username: str, *groups: str) -> User:
    user = User.objects.create_user(username, f"{username}@example.com", PASSWORD)
    for name in groups:
        user.groups.add(Group.objects.get_or_create(name=name)[0])
    return user


@pytest.fixture
def analyst(db) -> User:
    return _user("maya", ANALYST)


@pytest.fixture
def reviewer(db) -> User:
    return _user("daniel", REVIEWER)


@pytest.fixture
def second_reviewer(db) -> User:
    return _user("rosa", REVIEWER)


@pytest.fixture
def admin_user(db) -> User:
    user = _user("priya", ADMIN)
    user.is_staff = user.is_superuser = True
    user.save()
    return user


@pytest.fixture
def outsider(db) -> User:
    """Signed in, but in no group."""
    return _user("oscar")


@pytest.fixture
def client_for(client):
    def login(user: User):
        client.force_login(user)
        return client

    return login


@pytest.fixture
def queues():
    """All RQ queues, emptied before the test."""
    found = [django_rq.get_queue(name) for name in settings.RQ_QUEUE_NAMES]
    for queue in found:
        queue.empty()
    return found


@pytest.fixture(scope="session", autouse=True)
def _scripted_provider():
    """Agents whose provider is "scripted" answer from tests/scripted.py."""
    from tests import scripted

    scripted.register()


@pytest.fixture
def scripted(queues):
    """The scripted model, emptied before the test: enqueue replies, read the history."""
    from tests.scripted import Script

    script = Script()
    script.clear()
    yield script
    script.clear()


@pytest.fixture
def run_jobs(queues):
    """Work every queued job (and the jobs they enqueue) in this process, as a
    real RQ worker does, until the queues are empty."""

    def work() -> None:
        worker = SimpleWorker(queues, connection=queues[0].connection)
        worker.work(burst=True)

    return work


def database_url() -> str:
    """The URL of the test database, for processes started by a test."""
    from django.db import connection

    db = connection.settings_dict
    if db["HOST"].startswith("/"):
        return f"postgresql://{db['USER']}@/{db['NAME']}?host={db['HOST']}"
    return f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def worker(queues, transactional_db):
    """A real RQ worker process on every queue, working against the test
    database until the test ends."""
    import subprocess
    import sys

    env = {**os.environ, "DATABASE_URL": database_url()}
    # A SimpleWorker that also knows the scripted provider (tests/scripted.py).
    command = [sys.executable, "manage.py", "rqworker", *settings.RQ_QUEUE_NAMES,
               "--worker-class", "tests.scripted.ScriptedWorker"]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield process
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture
def screenshot(page):
    """Save a full-page screenshot under test-results/screenshots/ (kept by CI)."""
    from pathlib import Path

    folder = Path(settings.BASE_DIR) / "test-results" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> None:
        page.screenshot(path=folder / f"{name}.png", full_page=True)

    return take


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not os.path.exists(CHROMIUM):
        pytest.skip(
            f"BROWSER TESTS SKIPPED: Debian's chromium is not installed at {CHROMIUM} "
            "and `make test` could not install it (apt-get install chromium)."
        )
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


def pytest_terminal_summary(terminalreporter):
    skipped = terminalreporter.stats.get("skipped", [])
    if any("BROWSER TESTS SKIPPED" in str(report.longrepr) for report in skipped):
        terminalreporter.write_sep("!", "BROWSER TESTS WERE SKIPPED: chromium is missing", red=True, bold=True)


CONTRACT = """MASTER SUPPLY AGREEMENT

1. Term and Renewal. This Agreement shall automatically renew for successive twelve-month terms unless either party gives ninety days' written notice.

2. Termination. The Customer may terminate this Agreement only for cause.

3. Liability. The Supplier's liability under this Agreement shall not be limited.

4. Payment. Invoices are payable within 90 days, and late payments bear interest of 2% per month.

5. Confidentiality. Each party shall keep the other's confidential information secret for five years after termination.

6. Non-compete. The Customer shall not engage any competing supplier for 24 months after termination.

7. Governing Law. This Agreement is governed by the laws of the State of New York.
"""


@pytest.fixture
def make_document(db):
    import hashlib

    from django.core.files.base import ContentFile

    from documents.models import Document

    def make(text: str = CONTRACT, name: str = "contract.txt", user=None) -> Document:
        data = text.encode()
        return Document.objects.create(
            file=ContentFile(data, name=name),
            original_name=name,
            sha256=hashlib.sha256(data).hexdigest(),
            kind=Document.Kind.TEXT,
            size=len(data),
            text=text,
            uploaded_by=user,
        )

    return make


@pytest.fixture
def debate_pipeline(db):
    from orchestrator.demo.seed import seed_debate_pipeline, seed_prices

    seed_prices()
    return seed_debate_pipeline()


@pytest.fixture
def supervisor_pipeline(db):
    """document-supervisor: coordinator, four specialists, assembler."""
    from orchestrator.demo.seed import seed_prices, seed_supervisor_pipelines

    seed_prices()
    return seed_supervisor_pipelines()[0]


@pytest.fixture
def contract_supervisor(supervisor_pipeline):
    """contract-supervisor: the same, with the contract-debate pipeline as its clause specialist."""
    from orchestrator.models import Pipeline

    return Pipeline.objects.get(slug="contract-supervisor")


@pytest.fixture
def chain_pipeline(db):
    """extraction-chain: extract, normalize (with a shadow), enrich, format; and the knowledge base."""
    from orchestrator.demo.seed import seed_chain_pipeline, seed_prices

    seed_prices()
    return seed_chain_pipeline()
