"""``manage.py rebuild_uptime``: forget the daily uptime roll-ups and compute
them again from the recorded transitions and windows (after a restore, a
change of PAGE_TIME_ZONE, or transitions edited by hand)."""

from django.core.management.base import BaseCommand

from incidents.uptime import history


class Command(BaseCommand):
    help = "Recompute the daily uptime roll-ups from the transitions and windows."

    def add_arguments(self, parser):
        parser.add_argument(
            "--days", type=int, default=history.MAX_DAYS, help="how many days back (365)"
        )
        parser.add_argument("monitor_ids", nargs="*", help="only these monitors")

    def handle(self, *args, days, monitor_ids, **options):
        days = max(1, min(days, history.MAX_DAYS))
        count = history.rebuild(days=days, monitor_ids=monitor_ids or None)
        self.stdout.write(f"Rebuilt {days} days of uptime for {count} monitors.")
