"""One log line per management command run (send_reminders from cron, migrate at a deploy).

Django has no signal for commands, so `install()` wraps the one method every
`manage.py <command>` goes through, BaseCommand.run_from_argv. (call_command, used
by tests, does not go through it and logs nothing.) A command that ends normally
logs at INFO, one stopped by a CommandError at ERROR, and one that raises at
ERROR with its traceback.
"""

import functools
import logging
import time

from django.core.management.base import BaseCommand

logger = logging.getLogger("calnet_survey.commands")


def install():
    original = BaseCommand.run_from_argv
    if getattr(original, "logs_each_run", False):
        return

    @functools.wraps(original)
    def run_from_argv(self, argv):
        command = argv[1] if len(argv) > 1 else type(self).__module__.rpartition(".")[2]
        started = time.perf_counter()

        def log(level, outcome, **kwargs):
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            logger.log(
                level,
                "command %s %s %sms",
                command,
                outcome,
                duration_ms,
                extra={"command": command, "outcome": outcome, "duration_ms": duration_ms},
                **kwargs,
            )

        try:
            original(self, argv)
        except SystemExit as stop:
            # run_from_argv turns a CommandError into a printed message and an exit code.
            ok = stop.code in (0, None)
            log(logging.INFO if ok else logging.ERROR, "ok" if ok else "failed")
            raise
        except BaseException:
            log(logging.ERROR, "raised", exc_info=True)
            raise
        log(logging.INFO, "ok")

    run_from_argv.logs_each_run = True
    BaseCommand.run_from_argv = run_from_argv
