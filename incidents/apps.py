from django.apps import AppConfig, apps


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Status page"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from incidents.cache import generation

        # Models say on themselves whether the pages show them (ShownOnPage).
        generation.watch_shown_models(apps.get_models(include_auto_created=True))
