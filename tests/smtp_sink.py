"""A real SMTP server (aiosmtpd) on loopback that keeps every mail it
accepts, for the subscriber tests and the bench. ``stop()`` and ``start()``
cut it and bring it back on the same port, as an outage would."""

import email
import email.policy
import logging
import threading
from contextlib import contextmanager

from aiosmtpd.controller import Controller

from tests.servers import free_port

# aiosmtpd logs every command (addresses included) at INFO: the tests do not need it.
logging.getLogger("mail.log").setLevel(logging.WARNING)


class Sink:
    def __init__(self, port=None):
        self.port = port or free_port()
        self.messages = []  # email.message.EmailMessage, in order of acceptance
        self.lock = threading.Lock()
        self.accepted = threading.Condition(self.lock)
        self.controller = None

    # aiosmtpd calls this for each mail's DATA.
    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.accepted:
            self.messages.append(message)
            self.accepted.notify_all()
        return "250 Message accepted for delivery"

    def start(self):
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def wait_for(self, count, timeout=30):
        """Wait until ``count`` mails have arrived in all; True if they did."""
        with self.accepted:
            return self.accepted.wait_for(lambda: len(self.messages) >= count, timeout)

    def recipients(self):
        with self.lock:
            return [str(message["To"]) for message in self.messages]

    def clear(self):
        with self.lock:
            self.messages.clear()


@contextmanager
def running_sink():
    sink = Sink()
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()
