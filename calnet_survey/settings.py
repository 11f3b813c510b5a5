"""Settings for the CALNET Conversion Survey, read from environment variables.

Every variable is documented in README.md ("Configuration"). Defaults suit the
demo (`make run`): DEBUG on, SQLite under var/, email printed to the console.
Production sets DEBUG=0 and must then give SECRET_KEY, ALLOWED_HOSTS,
DATABASE_URL, SITE_URL and EMAIL_URL.
"""

from pathlib import Path

from django.utils.csp import CSP

from calnet_survey.env import (
    database_from_url,
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_str,
    mailer_from_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

DEBUG = env_bool("DEBUG", default=False)

if DEBUG:
    # A fixed key is fine for the demo only: production must bring its own.
    SECRET_KEY = env_str("SECRET_KEY", "demo-only-insecure-key-do-not-use-in-production-0123456789")
else:
    SECRET_KEY = env_str("SECRET_KEY", required=True)
    if len(SECRET_KEY) < 50:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("SECRET_KEY must be at least 50 characters long.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [SITE_URL])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "crispy_forms",
    "crispy_bootstrap5",
    "simple_history",
    "calnet_survey",
    "departments",
    "conversion",
]

MIDDLEWARE = [
    # Outermost: one log line for every request, redirects and static files included.
    "calnet_survey.middleware.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Above /healthz and whitenoise so that every response carries the same headers.
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Before sessions and host validation: a probe gets no cookie and writes nothing.
    "calnet_survey.health.HealthCheckMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "calnet_survey.middleware.SessionRefreshMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # Pages with a department's answers must not stay in any cache.
    "calnet_survey.middleware.NoStoreMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Axes last, as its documentation asks, so it sees the final response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "calnet_survey.urls"
WSGI_APPLICATION = "calnet_survey.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: SQLite under var/ for the demo, PostgreSQL (psycopg 3, pooled) in production.
DATABASE_URL = env_str("DATABASE_URL", None)
if DATABASE_URL is None:
    # The demo's SQLite file lives in var/, which a fresh clone does not have (it is
    # git-ignored): create it so any manage.py command works from the first one.
    VAR_DIR.mkdir(exist_ok=True)
    DATABASE_URL = f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
DATABASES = {
    "default": database_from_url(
        DATABASE_URL,
        pool_size=env_int("DATABASE_POOL_SIZE", 4),
        prepared_statements=env_bool("DATABASE_PREPARED_STATEMENTS", True),
        server_side_cursors=env_bool("DATABASE_SERVER_SIDE_CURSORS", True),
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    # django-axes first: it refuses a locked-out account or address before any check.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "sesame.backends.ModelBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Sign-in links (django-sesame): signed, single-use (bound to last_login), with a
# 16-byte signature so a token carries 128 bits that cannot be guessed.
SESAME_ONE_TIME = True
SESAME_SIGNATURE_SIZE = 16
SESAME_MAX_AGE = 72 * 3600  # the longest (invitation) lifetime; shorter ones are checked per scope
SIGN_IN_LINK_MINUTES = env_int("SIGN_IN_LINK_MINUTES", 15, minimum=1)
INVITATION_LINK_HOURS = env_int("INVITATION_LINK_HOURS", 72, minimum=1)
SIGN_IN_RATE_PER_EMAIL = env_int("SIGN_IN_RATE_PER_EMAIL", 5, minimum=1)  # per hour
SIGN_IN_RATE_PER_ADDRESS = env_int("SIGN_IN_RATE_PER_ADDRESS", 20, minimum=1)  # per hour

LOGIN_URL = "departments:landing"

# STND staff: lockout after repeated failures per account and per address (django-axes).
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = 0.5  # hours
AXES_LOCKOUT_PARAMETERS = [["username"], ["ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
# Behind the TLS proxy, count failures by the visitor's address, not the proxy's.
AXES_CLIENT_IP_CALLABLE = "calnet_survey.proxy.client_address"
# The second factor is required whenever DEBUG is off; the demo keeps one-step sign-in.
STND_REQUIRE_OTP = env_bool("STND_REQUIRE_OTP", default=not DEBUG)
OTP_TOTP_ISSUER = "CALNET Conversion Survey"

# Sessions live in PostgreSQL so any app server can serve any request.
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600, minimum=300)
# Inactivity expiry: SessionRefreshMiddleware restarts the clock while a session is used,
# writing it at most every SESSION_REFRESH_SECONDS rather than at every request.
SESSION_REFRESH_SECONDS = env_int("SESSION_REFRESH_SECONDS", 300, minimum=0)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "America/Los_Angeles")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# whitenoise serves static files from the app servers (no separate file server):
# files with a content hash in their name (all that templates link to, through the
# manifest) are cached for ten years as `immutable`; any other file for 60 seconds.

# Email through Django 6.1's MAILERS. The demo prints messages to the terminal.
EMAIL_URL = env_str("EMAIL_URL", "console://" if DEBUG else None, required=not DEBUG)
MAILERS = {"default": mailer_from_url(EMAIL_URL, timeout=env_int("EMAIL_TIMEOUT", 10, minimum=1))}
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "CALNET Conversion <calnet-survey@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_LIST_ID = env_str("EMAIL_LIST_ID", "calnet-conversion.survey.local")
# Failed sends are retried by send_reminders with backoff, then marked failed.
EMAIL_MAX_ATTEMPTS = env_int("EMAIL_MAX_ATTEMPTS", 6, minimum=1)

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# Security headers. Content-Security-Policy is Django's own (6.0+): no inline code.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    # Production is HTTPS only. `make serve` sets SECURE_SSL_REDIRECT=0 to be reachable
    # on plain http://localhost; HSTS and Secure cookies stay on (browsers send no HSTS
    # over HTTP and accept Secure cookies from localhost), so nothing else differs.
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # Behind a TLS-terminating proxy (compose.yaml's Caddy, a cloud load balancer) that
    # sets X-Forwarded-Proto and strips any such header a client sent.
    if env_bool("BEHIND_PROXY", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # Load balancers probe app servers over plain HTTP inside the private network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

LOG_FORMAT = env_choice("LOG_FORMAT", "text", ["text", "json"])
LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", ["DEBUG", "INFO", "WARNING", "ERROR"])
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "calnet_survey.log_format.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Unhandled errors, with their traceback; 404s and such are in the request log.
        "django.request": {"level": "ERROR"},
        # runserver's own request lines would repeat calnet_survey.requests'.
        "django.server": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}
