"""``manage.py serve``: what ``make run`` runs last — gunicorn and the
background worker side by side, stopped together.

TERM, INT or HUP to this process (or to ``make``, which passes TERM on to
it) is forwarded to both; it exits once both have. If either exits by itself
the other is stopped too, and so it is if the parent (``make``) goes away.
"""

import os
import runpy
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# Seconds the children get to finish before they are killed.
GRACE_SECONDS = 20.0


class Command(BaseCommand):
    help = "Serve the site with gunicorn and run the background worker beside it."

    def handle(self, *args, **options):
        python = sys.executable
        # gunicorn reads its settings (bind from PORT, workers, threads, the
        # access log) from gunicorn.conf.py, as every other start does.
        bind = runpy.run_path(str(settings.BASE_DIR / "gunicorn.conf.py"))["bind"]
        commands = [
            [python, "manage.py", "worker"],
            [python, "-m", "gunicorn", "statuspage.wsgi"],
        ]
        stopping = []

        def stop(signum, _frame):
            stopping.append(signum)

        for signum in STOP_SIGNALS:
            signal.signal(signum, stop)
        parent = os.getppid()
        # In a process group of their own, the children do not get the
        # terminal's Ctrl-C: they are told once, here (the worker would take
        # a second interrupt as "exit at once").
        children = [subprocess.Popen(command, process_group=0) for command in commands]  # noqa: S603
        self.stdout.write(
            f"Serving on http://{bind}/ (gunicorn and the worker); Ctrl-C stops both."
        )
        self.stdout.flush()
        while not stopping and all(child.poll() is None for child in children):
            if os.getppid() != parent:  # make was killed outright
                break
            time.sleep(0.2)
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + GRACE_SECONDS
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        codes = [child.returncode for child in children]
        if stopping:
            self.stdout.write(f"{signal.strsignal(stopping[0])}: gunicorn and the worker stopped.")
            return
        if any(codes):
            sys.exit(1)
