from django.apps import AppConfig
from django.db.models.signals import m2m_changed, post_delete, post_save


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Status page"
    default_auto_field = "django.db.models.BigAutoField"

    # Models whose rows the public pages show: any write to them changes the
    # content generation, so cached pages and responses are rebuilt.
    shown_models = ("Monitor", "Incident", "IncidentUpdate", "MaintenanceWindow", "IncidentMonitor")

    def ready(self):
        from incidents.cache import generation

        def changed(sender, using="default", **kwargs):
            generation.bump(using=using)

        for name in self.shown_models:
            model = self.get_model(name)
            post_save.connect(
                changed, sender=model, dispatch_uid=f"generation-save-{name}", weak=False
            )
            post_delete.connect(
                changed, sender=model, dispatch_uid=f"generation-delete-{name}", weak=False
            )
        m2m_changed.connect(
            changed,
            sender=self.get_model("IncidentMonitor"),
            dispatch_uid="generation-m2m",
            weak=False,
        )
