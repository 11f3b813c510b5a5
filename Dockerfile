# syntax=docker/dockerfile:1
# The CALNET Conversion Survey as one image: gunicorn serves the app and, through
# whitenoise, its static files. compose.yaml runs it as web replicas, a one-off
# migration and the reminder scheduler. Build: docker build -t calnet-survey .
#
# deploy/check_image_commands.py runs this file's commands outside Docker (CI has
# no Docker engine): keep /venv and /app as the only absolute paths, and keep each
# command on one line so that the check finds them.

# --- build: the dependencies, in a virtual environment copied whole to the runtime
FROM python:3.13-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
# Only pyproject.toml first, so that a code change does not reinstall every dependency.
COPY pyproject.toml ./
RUN python -m venv /venv
RUN python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' > /venv/requirements.txt
RUN /venv/bin/pip install -r /venv/requirements.txt

# --- runtime: the slim base, the virtual environment, the code, collected static files
FROM python:3.13-slim AS runtime
ENV PATH=/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    DEBUG=0 GUNICORN_HOST=0.0.0.0 PORT=8000 STATIC_ROOT=/app/staticfiles
WORKDIR /app
RUN useradd --system --uid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin calnet
COPY --from=build /venv /venv
COPY . /app
# Hashed, compressed static files, built once here rather than at each start. Settings
# need these values to load; none of them is used at run time.
RUN DEBUG=0 SECRET_KEY=collectstatic-at-build-time-only-not-a-secret-0123456789 ALLOWED_HOSTS=localhost DATABASE_URL=sqlite:////tmp/unused.sqlite3 EMAIL_URL=console:// python manage.py collectstatic --no-input -v 0
USER calnet
EXPOSE 8000
# slim has no curl: Python's urllib, failing on anything but 200 (503 = no database).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ['PORT'], timeout=4)"]
CMD ["gunicorn", "--config", "gunicorn.conf.py", "calnet_survey.wsgi"]
