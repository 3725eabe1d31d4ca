"""Groups of monitors: the sections of the status page, and of Statuspage's
component list (a group component naming its members).

A monitor joins a group through its ``group`` (``groupId`` in the API); a
group's ``position`` orders it on the page among the other groups and the
monitors in no group, a monitor's ``position`` orders it within its group.
Deleting a group keeps its monitors: they move out of it.
"""

from django.core.exceptions import ValidationError
from django.db import models, transaction

from incidents.cache.generation import ShownOnPage
from incidents.models.audit import AuditRecord
from incidents.models.common import (
    DESCRIPTION_MAX_LENGTH,
    GROUP_ID_PATTERN,
    NAME_MAX_LENGTH,
    UNSET,
    Conflict,
    clean_description,
    make_id,
    now_seconds,
)
from incidents.models.fields import Resource
from incidents.models.monitors import (
    Monitor,
    chosen_id_field,
    description_field,
    name_field,
    position_field,
)

# A group's monitors, in page order (Monitor.objects.in_page_order within one group).
MEMBER_ORDER = ("position", "created_at", "id")


def unknown_group(group_id):
    return f"unknown group id: {group_id[:100]}"


def new_group_id():
    return make_id("grp")


class MonitorGroupQuerySet(models.QuerySet):
    def hold(self, group_id):
        """Inside a write putting a monitor in ``group_id``: keep the group from
        being deleted until it commits, and refuse one deleted since it was
        checked (see ``MonitorGroup.delete_with_audit``)."""
        if group_id is None:
            return
        if not self.select_for_update(no_key=True).filter(pk=group_id).exists():
            raise ValidationError({"group_id": unknown_group(group_id)})

    def in_page_order(self):
        return self.order_by("position", "created_at", "id")

    def with_members(self):
        """Each group's monitors (``members``) in page order, in one more query."""
        members = Monitor.objects.order_by(*MEMBER_ORDER)
        return self.prefetch_related(models.Prefetch("monitors", queryset=members))


class MonitorGroup(ShownOnPage, models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=new_group_id)
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    description = models.CharField(  # noqa: DJ001 (API: null)
        max_length=DESCRIPTION_MAX_LENGTH, null=True, blank=True
    )
    position = models.PositiveIntegerField(
        default=0, help_text="Order on the page among groups and ungrouped monitors."
    )
    created_at = models.DateTimeField(default=now_seconds)
    updated_at = models.DateTimeField(auto_now=True)

    objects = MonitorGroupQuerySet.as_manager()

    class Meta:
        verbose_name = "monitor group"
        ordering = ["position", "created_at", "id"]

    def __str__(self):
        return self.name

    def members(self):
        """The group's monitors in page order (prefetched by ``with_members``)."""
        if "monitors" in getattr(self, "_prefetched_objects_cache", {}):
            return list(self.monitors.all())
        return list(self.monitors.order_by(*MEMBER_ORDER))

    def to_dict(self):
        """The contract's fields in order (``description`` after them)."""
        return {
            "id": self.id,
            "name": self.name,
            "position": self.position,
            "monitorIds": [monitor.id for monitor in self.members()],
            "description": self.description,
        }

    @staticmethod
    def place(monitor, *, description=UNSET, group_id=UNSET, position=UNSET):
        """Set a (locked) monitor's description, group and position; returns
        what changed, for the audit trail. Saving is the caller's."""
        changes = {}
        if description is not UNSET and clean_description(description) != monitor.description:
            monitor.description = changes["description"] = clean_description(description)
        if group_id is not UNSET and group_id != monitor.group_id:
            MonitorGroup.objects.hold(group_id)
            monitor.group_id = changes["groupId"] = group_id
        if position is not UNSET and position != monitor.position:
            monitor.position = changes["position"] = position
        return changes

    @classmethod
    def validate_fields(cls, *, name=UNSET, description=UNSET, position=UNSET, id=UNSET):
        """Check values against ``GROUP``'s fields; raise ValidationError naming fields."""
        errors = GROUP.errors(
            {"description": description, "position": position, "name": name, "id": id}
        )
        if errors:
            raise ValidationError(errors)

    @classmethod
    def create_group(cls, *, name, description=None, position=0, id=None, actor=None):
        fields = {"name": name, "description": description, "position": position}
        if id is not None:
            fields["id"] = id
        cls.validate_fields(**fields)
        with transaction.atomic():
            if id is not None and cls.objects.filter(pk=id).exists():
                raise Conflict(f"A group with id {id} already exists.")
            group = cls(
                name=name.strip(),
                description=clean_description(description),
                position=position,
            )
            if id is not None:
                group.id = id
            group.save(force_insert=True)
            AuditRecord.log(actor, AuditRecord.CREATED, group, changes=group.to_dict())
        return group

    def change(self, *, name=UNSET, description=UNSET, position=UNSET, actor=None):
        self.validate_fields(name=name, description=description, position=position)
        with transaction.atomic():
            locked = MonitorGroup.objects.select_for_update().get(pk=self.pk)
            changes = {}
            if name is not UNSET and name.strip() != locked.name:
                locked.name = changes["name"] = name.strip()
            if description is not UNSET and clean_description(description) != locked.description:
                locked.description = changes["description"] = clean_description(description)
            if position is not UNSET and position != locked.position:
                locked.position = changes["position"] = position
            if changes:
                locked.save()
                AuditRecord.log(actor, AuditRecord.UPDATED, locked, changes=changes)
            for field in ("name", "description", "position", "updated_at"):
                setattr(self, field, getattr(locked, field))
        return self

    def delete_with_audit(self, actor=None):
        """Delete the group; its monitors stay, in no group. The row is locked
        first, so a monitor joining it meanwhile either waits and finds it gone
        (a validation error) or is moved out with the others."""
        with transaction.atomic():
            locked = MonitorGroup.objects.select_for_update().get(pk=self.pk)
            snapshot = MonitorGroup.objects.with_members().get(pk=locked.pk).to_dict()
            AuditRecord.log(actor, AuditRecord.DELETED, locked, snapshot=snapshot)
            locked.monitors.update(group=None, updated_at=now_seconds())
            locked.delete()
        return snapshot


# The contract's fields of a group (incidents/models/fields.py); name,
# description and position are declared as a monitor's are.
GROUP = Resource(
    [
        chosen_id_field(GROUP_ID_PATTERN, "grp_core"),
        name_field("Core services"),
        position_field("among groups and ungrouped monitors"),
        description_field(),
    ],
    read_only=("monitorIds",),
    read_only_on_change=("id",),
)
