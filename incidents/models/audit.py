"""The audit trail: who created, changed or deleted what, and how it was."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from incidents.cache.generation import NotShownOnPage
from incidents.models.common import Actor
from incidents.models.keys import ApiKey


class AuditRecord(NotShownOnPage, models.Model):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    ACTION_CHOICES = [(CREATED, "Created"), (UPDATED, "Updated"), (DELETED, "Deleted")]

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=20, choices=ACTION_CHOICES)
    object_type = models.CharField(max_length=40)
    object_id = models.CharField(max_length=40, db_index=True)
    actor = models.CharField(max_length=200, blank=True)
    api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_records"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    changes = models.JSONField(null=True, blank=True)
    snapshot = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.object_type} {self.object_id} {self.action} by {self.actor or 'system'}"

    @classmethod
    def log(cls, actor, action, target, changes=None, snapshot=None):
        actor = actor or Actor.system("system")
        return cls.objects.create(
            action=action,
            object_type=target._meta.model_name,
            object_id=str(target.pk),
            actor=actor.label[:200],
            api_key=actor.api_key,
            user=actor.user,
            changes=changes,
            snapshot=snapshot,
        )
