"""gunicorn settings, the same for `make serve`, the Docker image and any other host.

Everything comes from the environment (README.md, "Deploy"):

- GUNICORN_HOST (127.0.0.1; the image sets 0.0.0.0) and PORT (8000): where to listen.
- GUNICORN_WORKERS: processes, default the CPU cores this process may use.
- GUNICORN_THREADS: threads per process, default 4, the default DATABASE_POOL_SIZE, so
  that each thread can hold a pooled PostgreSQL connection without waiting.
- GUNICORN_TIMEOUT: seconds before a worker that stopped answering the arbiter is
  restarted (30).
- GUNICORN_MAX_REQUESTS: requests before a worker is recycled (1000, with up to 10%
  jitter so the workers do not all restart at once); 0 turns recycling off.

A server's database connections at most: workers × DATABASE_POOL_SIZE.
"""

import os

from calnet_survey.env import env_choice, env_int, env_str

bind = [f"{env_str('GUNICORN_HOST', '127.0.0.1')}:{env_int('PORT', 8000, minimum=1)}"]
workers = env_int("GUNICORN_WORKERS", os.process_cpu_count() or 1, minimum=1)
# Threads: a slow export or a slow SMTP relay holds one thread, not a whole process.
# A gthread worker reports to the arbiter from its main loop, so `timeout` restarts a
# hung process but never kills a long streamed export that is still running.
worker_class = "gthread"
threads = env_int("GUNICORN_THREADS", 4, minimum=1)
timeout = env_int("GUNICORN_TIMEOUT", 30, minimum=1)
graceful_timeout = 30
# Behind a load balancer that reuses connections; longer than none, shorter than its own.
keepalive = 5
max_requests = env_int("GUNICORN_MAX_REQUESTS", 1000, minimum=0)
max_requests_jitter = max_requests // 10
# Heartbeat files on tmpfs: a container's overlay filesystem can stall them.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108

# gunicorn's control socket sits at one path per user: two instances on one host (the
# scale-out check) would fight over it, and nothing here uses it.
control_socket_disable = True

accesslog = "-"  # stdout
errorlog = "-"  # stderr
# %(U)s is the path without the query string: sign-in tokens travel in the query string
# and must stay out of logs. %(M)s is the duration in milliseconds.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'

if env_choice("LOG_FORMAT", "text", ["text", "json"]) == "json":
    # gunicorn's own lines (start-up, worker restarts, access) as JSON too, on stdout.
    logconfig_dict = {
        "formatters": {"json": {"()": "calnet_survey.log_format.JsonFormatter"}},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stdout",
            }
        },
        "root": {"handlers": ["stdout"], "level": "INFO"},
        "loggers": {
            "gunicorn.error": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
            "gunicorn.access": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
        },
    }
