"""An SMTP server that accepts and counts messages, in its own process, for benchmarks.

    python -m bench.smtp_sink PORT

Runs in a separate process so that the server's work does not share the sender's
interpreter lock; accepting a message costs the same for every sender measured.
"""

import signal
import sys
import threading

from aiosmtpd.controller import Controller


class Counter:
    def __init__(self):
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        return "250 2.0.0 OK"


def main():
    port = int(sys.argv[1])
    controller = Controller(Counter(), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
