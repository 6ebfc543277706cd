"""Settings come from the environment and production settings pass Django's deploy checks."""

import os
import subprocess
import sys

import pytest

PRODUCTION = {
    "DEBUG": "false",
    "HTTPS": "true",
    "SECRET_KEY": "x7Kq2vN9pL4mR8tW1yZ5bC3dF6gH0jS2uE9aQ4wX7nM1kV5rT8",
    "ALLOWED_HOSTS": "quorum.example.com",
    "STATIC_MANIFEST": "true",
}


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    # The test session's own async escape hatch (for Playwright) is not production's.
    base = {key: value for key, value in os.environ.items() if key != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    return subprocess.run(
        [sys.executable, "manage.py", *args], env={**base, **env}, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_with_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [("DEBUG", "maybe", "DEBUG must be true or false"), ("QUORUM_MAX_UPLOAD_MB", "lots", "must be a whole number")],
)
def test_bad_values_fail_loudly(name, value, message):
    result = _manage("check", **{name: value})
    assert result.returncode != 0
    assert message in result.stderr


def test_a_missing_database_url_names_the_commands_that_start_one():
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    result = subprocess.run([sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "make run" in result.stderr
