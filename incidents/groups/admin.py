"""Monitor groups in the operators' admin: named, described and ordered here
(the position typed in the list), their monitors chosen on each monitor's
page or in the monitors list. Every write goes through the domain."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from incidents.admin import errors_to_form
from incidents.groups.models import MonitorGroup
from incidents.models import Actor, Conflict


def _values(cleaned):
    """The form's fields as the domain takes them (an empty description: none)."""
    values = {name: cleaned[name] for name in ("name", "position") if cleaned.get(name) is not None}
    if "description" in cleaned:
        values["description"] = cleaned["description"] or None
    return values


class MonitorGroupForm(forms.ModelForm):
    class Meta:
        model = MonitorGroup
        fields = ["name", "description", "position"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2, "cols": 60})}

    def clean(self):
        cleaned = super().clean()
        try:
            MonitorGroup.validate_fields(**_values(cleaned))
        except ValidationError as error:
            errors_to_form(self, error)
        return cleaned


class GroupPositionForm(MonitorGroupForm):
    """A row of the groups list: its position, typed in place."""

    class Meta:
        model = MonitorGroup
        fields = ["position"]


@admin.register(MonitorGroup)
class MonitorGroupAdmin(admin.ModelAdmin):
    form = MonitorGroupForm
    list_display = ["name", "id", "position", "monitor_count"]
    list_editable = ["position"]
    search_fields = ["id", "name", "description"]
    readonly_fields = ["id", "monitors_in_order"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "description", "position"]
        return ["id", "name", "description", "position", "monitors_in_order"]

    def get_queryset(self, request):
        return super().get_queryset(request).with_members()

    def get_changelist_form(self, request, **kwargs):
        return super().get_changelist_form(request, form=GroupPositionForm, **kwargs)

    @admin.display(description="monitors")
    def monitor_count(self, group):
        return len(group.members())

    @admin.display(description="monitors, in page order")
    def monitors_in_order(self, group):
        members = group.members()
        if not members:
            return "None yet: choose this group on a monitor's page, or in the monitors list."
        return format_html(
            "<ol>{}</ol>",
            format_html_join(
                "",
                '<li><a href="{}">{}</a> (position {})</li>',
                (
                    (reverse("admin:incidents_monitor_change", args=[m.pk]), m.name, m.position)
                    for m in members
                ),
            ),
        )

    def save_model(self, request, obj, form, change):
        actor = Actor.for_user(request.user)
        values = _values(form.cleaned_data)
        try:
            if not change:
                created = MonitorGroup.create_group(**values, actor=actor)
                obj.pk = created.pk
                obj._state.adding = False
                obj.refresh_from_db()
                return
            obj.change(**values, actor=actor)
        except (ValidationError, Conflict) as error:
            messages.error(request, f"Nothing was saved: {error}")

    def delete_model(self, request, obj):
        obj.delete_with_audit(Actor.for_user(request.user))

    def delete_queryset(self, request, queryset):
        actor = Actor.for_user(request.user)
        for group in queryset:
            group.delete_with_audit(actor)
