from django.apps import AppConfig


class SubscribersConfig(AppConfig):
    name = "incidents.subscribers"
    label = "subscribers"
    verbose_name = "Subscribers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from incidents.signals import incident_changed
        from incidents.subscribers.outbox import record_incident_change

        # In the write's transaction: the outbox row commits with the change.
        incident_changed.connect(record_incident_change, dispatch_uid="subscribers-outbox")
