from django.apps import AppConfig
from django.db.models.signals import post_save


class AlertsConfig(AppConfig):
    name = "incidents.alerts"
    label = "alerts"
    verbose_name = "Alerts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from incidents.alerts import models
        from incidents.models import Incident
        from incidents.signals import monitor_transition

        # In the transaction that records the transition: a committed one
        # always has its alerts, a rolled-back one none.
        monitor_transition.connect(models.decide_for_transition, dispatch_uid="alerts-transition")
        post_save.connect(
            models.check_ends_when_a_window_is_resolved,
            sender=Incident,
            dispatch_uid="alerts-window-resolved",
        )
