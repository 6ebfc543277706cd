"""Quorum's settings: every value comes from an environment variable, with safe
defaults for development (see README.md for the list)."""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def envint(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None


def envfloat(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}") from None


def envlist(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name, "").strip()
    return [item.strip() for item in value.split(",") if item.strip()] if value else default


# Where the embedded servers, uploads and the local secret key live in development.
VAR_DIR = Path(os.environ.get("QUORUM_VAR_DIR") or BASE_DIR / "var").resolve()


DEBUG = envbool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    from config.embedded import local_secret_key, running_environ

    # A per-host key file would differ between servers and vanish with the disk: refuse
    # to start without one, except in development and beside a running `make run` (a
    # command from a second terminal), which uses the key that launcher keeps under var/.
    if not DEBUG and not running_environ():
        raise ImproperlyConfigured(
            "SECRET_KEY is not set, and no `make run` is running here. With DEBUG off Quorum needs its own "
            "secret key: set SECRET_KEY to a long random value "
            "(python -c 'import secrets; print(secrets.token_urlsafe(50))'). "
            "`make run` keeps a key under var/ for itself and the commands run beside it."
        )
    SECRET_KEY = local_secret_key(VAR_DIR)
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])

# HTTPS-only cookies, redirects and HSTS. On by default outside DEBUG; set
# HTTPS=false only when serving plain HTTP on a trusted network (or in tests).
HTTPS = envbool("HTTPS", not DEBUG)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if envbool("BEHIND_PROXY", False) else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy on every response: scripts and style sheets only from
# Quorum itself or carrying the page's nonce; no eval (htmx is configured not to
# need it, base.html). Style attributes stay allowed for the bars whose widths
# the server computes; <style> elements need the nonce.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "style-src-attr": [CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}
SESSION_COOKIE_HTTPONLY = True

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "django_rq",
    "django_tables2",
    "axes",
    "documents",
    "orchestrator",
    "review",
    "insights",
    "ninja",  # its docs page then uses the bundled assets from static files, never a CDN
    "api",
    "notify",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "config.csp.RQDashboardPolicy",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.context_processors.roles",
                "django.template.context_processors.csp",
            ],
        },
    },
]

# PostgreSQL: DATABASE_URL, or the embedded server that `make run` / `make test`
# start under var/ (see config/embedded.py).
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if not DATABASE_URL:
    from config.embedded import running_environ, state_file

    # Beside a running `make run`: use the servers it published under var/.
    if not os.environ.get("REDIS_URL") and (_running := running_environ()):
        os.environ.update(_running)
        DATABASE_URL = _running["DATABASE_URL"]
if not DATABASE_URL:
    raise ImproperlyConfigured(
        "DATABASE_URL is not set, and no `make run` is running here "
        f"(none published its servers in {state_file()}). Start Quorum with `make run` and run "
        "commands beside it from a second terminal, or run one with its own embedded servers: "
        "`.venv/bin/python -m config.embedded .venv/bin/python manage.py <command>`."
    )
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=envint("DB_CONN_MAX_AGE", 60))}
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# A unix socket given as ?host=/path (the embedded server's form) is the HOST.
if "host" in DATABASES["default"].get("OPTIONS", {}):
    DATABASES["default"]["HOST"] = DATABASES["default"]["OPTIONS"].pop("host")

REDIS_URL = os.environ.get("REDIS_URL", "")
if not REDIS_URL:
    raise ImproperlyConfigured("REDIS_URL is not set (see DATABASE_URL above).")

# One queue per role, so each kind of work can be given its own workers.
RQ_QUEUE_NAMES = ["default", "advocates", "judges", "coordinator", "specialists"]
RQ_QUEUE_NAMES += ["webhooks"]  # outbound webhooks and review e-mails (notify)
RQ_QUEUES = {name: {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 900} for name in RQ_QUEUE_NAMES}
RQ_SHOW_ADMIN_LINK = True

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Failed-login throttling (django-axes): five wrong passwords for one username from
# one address lock that pair out for 15 minutes, with a page that says so.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = envint("QUORUM_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=envint("QUORUM_LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or VAR_DIR / "staticfiles")
# Production serves collected, hashed files (collectstatic); development and
# tests serve them straight from static/.
STATIC_MANIFEST = envbool("STATIC_MANIFEST", not DEBUG)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if STATIC_MANIFEST
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not STATIC_MANIFEST

# Uploads live outside any served URL: originals are only ever sent by a view,
# as attachments (documents.views.download).
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT") or VAR_DIR / "media")
# Raw step traces past their pipeline's retention, one gzip'd JSONL file per day (archivetraces).
ARCHIVE_DIR = Path(os.environ.get("QUORUM_ARCHIVE_DIR") or VAR_DIR / "archive")
QUORUM_MAX_UPLOAD_BYTES = envint("QUORUM_MAX_UPLOAD_MB", 25) * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
QUORUM_MAX_FILES_PER_UPLOAD = envint("QUORUM_MAX_FILES_PER_UPLOAD", 100)
# Quorum's upload handler refuses the file past the cap with a clear message; Django's
# own check (a bare 400) stays one higher as the backstop for other forms.
DATA_UPLOAD_MAX_NUMBER_FILES = QUORUM_MAX_FILES_PER_UPLOAD + 1
QUORUM_MAX_UPLOAD_REQUEST_BYTES = envint("QUORUM_MAX_UPLOAD_REQUEST_MB", 256) * 1024 * 1024
# The size limit is enforced while the body streams in, before anything is written whole.
FILE_UPLOAD_HANDLERS = [
    "documents.uploads.SizeLimitedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
# Text is read in a separate, bounded process (documents/sandbox.py). The upload
# request reads a file of up to QUORUM_EXTRACTION_INLINE_KB itself for at most
# QUORUM_EXTRACTION_INLINE_S seconds (and all its files for at most
# QUORUM_UPLOAD_INLINE_BUDGET_S); anything else is read by a job, with these limits.
QUORUM_EXTRACTION_INLINE_BYTES = envint("QUORUM_EXTRACTION_INLINE_KB", 2048) * 1024
QUORUM_EXTRACTION_INLINE_S = envfloat("QUORUM_EXTRACTION_INLINE_S", 3)
QUORUM_UPLOAD_INLINE_BUDGET_S = envfloat("QUORUM_UPLOAD_INLINE_BUDGET_S", 10)
QUORUM_OCR_MAX_PAGES = envint("QUORUM_OCR_MAX_PAGES", 50)
# Tesseract reads a dense A4 page at 300 dpi in about 2.7 s on this 2-core machine: the
# job's clock leaves 4 s a page for the OCR page limit (a 50-page scan was refused as
# "too slow" at 120 s, under the page limit it was told it met), and never less than 120 s.
QUORUM_EXTRACTION_TIMEOUT_S = envint("QUORUM_EXTRACTION_TIMEOUT_S", max(120, 4 * QUORUM_OCR_MAX_PAGES + 30))
QUORUM_EXTRACTION_MEMORY_MB = envint("QUORUM_EXTRACTION_MEMORY_MB", 1024)
QUORUM_EXTRACTION_MAX_PAGES = envint("QUORUM_EXTRACTION_MAX_PAGES", 2000)
QUORUM_EXTRACTION_MAX_CHARS = envint("QUORUM_EXTRACTION_MAX_CHARS", 5_000_000)
# Text read from a scan at a lower mean word confidence (0-100) is too unreliable to
# review: a run on it is "Not reviewed", whatever the model makes of it.
QUORUM_MIN_OCR_CONFIDENCE = envfloat("QUORUM_MIN_OCR_CONFIDENCE", 60)
# How many times a document's extraction job may be lost (its worker killed, as
# running out of memory does; a wiped Redis) before the document fails.
QUORUM_EXTRACTION_MAX_LOSSES = envint("QUORUM_EXTRACTION_MAX_LOSSES", 3)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Model providers. Without an API key Quorum runs on the offline, rule-based stand-in.
ANTHROPIC_API_KEY = os.environ.get("ANTHROPIC_API_KEY", "")
ANTHROPIC_BASE_URL = os.environ.get("ANTHROPIC_BASE_URL", "") or None
# A self-hosted, OpenAI-compatible server (vLLM, Ollama, llama.cpp) for the openai_compat provider.
OPENAI_BASE_URL = os.environ.get("OPENAI_BASE_URL", "")
OPENAI_API_KEY = os.environ.get("OPENAI_API_KEY", "")
QUORUM_PROVIDER = os.environ.get("QUORUM_PROVIDER") or ("anthropic" if ANTHROPIC_API_KEY else "offline")
if QUORUM_PROVIDER not in {"offline", "anthropic", "openai_compat"}:
    raise ImproperlyConfigured(f"QUORUM_PROVIDER must be offline, anthropic or openai_compat, not {QUORUM_PROVIDER!r}")
# A provider's retry-after is honoured up to this many seconds, so one huge
# header cannot hold a worker for minutes.
QUORUM_RETRY_AFTER_CAP_S = envint("QUORUM_RETRY_AFTER_CAP_S", 20)
# Simulated latency of each offline call, in seconds: "1" or a range "0.5-1.5".
QUORUM_OFFLINE_LATENCY = os.environ.get("QUORUM_OFFLINE_LATENCY", "0")
# The engine's own retry of transient provider errors, on top of the SDK's.
QUORUM_STEP_MAX_ATTEMPTS = envint("QUORUM_STEP_MAX_ATTEMPTS", 3)
# A running step's job keeps a heartbeat key alive (renewed every second, expiring
# 3x this after the last renewal): the reaper takes a step whose heartbeat expired
# for lost, so a killed worker's step is back within ~40 s.
QUORUM_STEP_HEARTBEAT_S = envint("QUORUM_STEP_HEARTBEAT_S", 5)
# RQ's scheduler (it enqueues jobs deferred with enqueue_in: steps over their rate
# limit, webhook retries) runs in the one worker holding its lock; after that worker
# dies the others take over only at their 10-minute maintenance pass. The reaper
# enqueues deferred jobs this many seconds overdue itself (no live scheduler is that late).
QUORUM_SCHEDULER_GRACE_S = envint("QUORUM_SCHEDULER_GRACE_S", 15)
# How many times a step's job may be lost (killed worker, wiped Redis) before it fails.
QUORUM_STEP_MAX_LOSSES = envint("QUORUM_STEP_MAX_LOSSES", 5)
# Injected faults for the offline provider (chaos runs): "429:0.1,529:0.05,timeout:0.05,badjson:0.05".
QUORUM_OFFLINE_FAULTS = os.environ.get("QUORUM_OFFLINE_FAULTS", "")

# Review: how long a claim holds an item, and when an open item is overdue.
QUORUM_REVIEW_CLAIM_MINUTES = envint("QUORUM_REVIEW_CLAIM_MINUTES", 15)
QUORUM_REVIEW_SLA_HOURS = envint("QUORUM_REVIEW_SLA_HOURS", 24)

# E-mail (review notifications): printed to the console unless EMAIL_HOST names an SMTP server.
_EMAIL_PORT = envint("EMAIL_PORT", 587)
MAILERS = {
    "default": {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {
            "host": os.environ["EMAIL_HOST"],
            "port": _EMAIL_PORT,
            "username": os.environ.get("EMAIL_HOST_USER", ""),
            "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
            "use_tls": envbool("EMAIL_USE_TLS", _EMAIL_PORT == 587),
            "use_ssl": envbool("EMAIL_USE_SSL", _EMAIL_PORT == 465),
            "timeout": 30,
        },
    }
    if os.environ.get("EMAIL_HOST")
    else {"BACKEND": "django.core.mail.backends.console.EmailBackend"}
}
# Without EMAIL_HOST, review e-mails go to the log by design (README: "Webhooks"), so
# the deploy check's "development-only backend" error is expected until one is set.
SILENCED_SYSTEM_CHECKS = [] if os.environ.get("EMAIL_HOST") else ["mail.E001"]
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Quorum <quorum@localhost>")
# Where links in e-mails and webhook payloads point.
QUORUM_BASE_URL = os.environ.get("QUORUM_BASE_URL", "http://127.0.0.1:8000")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"step": {"()": "orchestrator.jobs.StepFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s run=%(run)s step=%(step)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["step"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
