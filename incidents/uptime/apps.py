from django.apps import AppConfig


class UptimeConfig(AppConfig):
    name = "incidents.uptime"
    label = "uptime"
    verbose_name = "Uptime history"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.db.models.signals import post_save

        from incidents.models import MonitorStatusChange
        from incidents.uptime.history import forget_days_after_late_transition

        # A transition recorded with a time in a closed day (a backfill, a
        # test) changes that day and the ones after it: their roll-ups go.
        post_save.connect(
            forget_days_after_late_transition,
            sender=MonitorStatusChange,
            dispatch_uid="uptime-late-transition",
        )
