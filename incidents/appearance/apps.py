from django.apps import AppConfig


class AppearanceConfig(AppConfig):
    name = "incidents.appearance"
    label = "appearance"
    verbose_name = "Appearance"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from incidents.appearance.models import PageSettings
        from incidents.appearance.page import forget

        # The settings token changes too (ShapesEveryPage); this drops the copy this
        # request and process hold at once.
        post_save.connect(forget, sender=PageSettings, dispatch_uid="page-settings-saved")
        post_delete.connect(forget, sender=PageSettings, dispatch_uid="page-settings-deleted")
