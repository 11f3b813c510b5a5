"""Loaded by pytest before Django (`-p tests.environment` in pyproject.toml).

Tests run with the demo's defaults (no SECRET_KEY needed, email captured by
Django's test outbox) unless the caller sets the variables, for example
DATABASE_URL to run the suite on PostgreSQL.
"""

import os

os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("EMAIL_URL", "locmem://")
os.environ.setdefault("SITE_URL", "http://testserver")
