"""The operators' face. Every write delegates to the domain (incidents/models.py):
an edited status appends a timeline entry exactly as the API's PATCH does."""

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AdminSplitDateTime
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.utils.html import format_html

from incidents.models import (
    Actor,
    ApiKey,
    AuditRecord,
    Conflict,
    Incident,
    IncidentUpdate,
    Monitor,
    MonitorStatusChange,
)

# Domain field names -> admin form field names, for errors raised by the rules.
INCIDENT_FORM_FIELDS = {"monitor_ids": "monitors"}


def errors_to_form(form, error, field_map=None):
    """Attach a domain ValidationError to the form fields it names."""
    field_map = field_map or {}
    for name, messages_ in error.message_dict.items():
        field = field_map.get(name, name)
        form.add_error(field if field in form.fields else None, messages_)


# --- Incidents ------------------------------------------------------------


class IncidentForm(forms.ModelForm):
    monitors = forms.ModelMultipleChoiceField(
        queryset=Monitor.objects.order_by("name"),
        required=False,
        widget=admin.widgets.FilteredSelectMultiple("monitors", is_stacked=False),
    )
    message = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="Posted to the timeline. Changing the status or writing a message adds one "
        "timeline entry, exactly like the API's PATCH.",
    )
    scheduled_start = forms.SplitDateTimeField(
        required=False, widget=AdminSplitDateTime, help_text="Maintenance windows only (UTC)."
    )
    scheduled_end = forms.SplitDateTimeField(
        required=False, widget=AdminSplitDateTime, help_text="Maintenance windows only (UTC)."
    )
    notify = forms.BooleanField(
        label="Notify subscribers",
        required=False,
        initial=True,
        help_text="Untick to make this change without telling anyone (a typo fix, a test).",
    )

    class Meta:
        model = Incident
        fields = ["title", "status"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        incident = self.instance
        if not incident._state.adding:
            self.fields["monitors"].initial = list(
                Monitor.objects.filter(incident_links__incident=incident)
            )
            window = incident.window
            if window is not None:
                self.fields["scheduled_start"].initial = window.scheduled_start
                self.fields["scheduled_end"].initial = window.scheduled_end
            else:
                del self.fields["scheduled_start"]
                del self.fields["scheduled_end"]
        else:
            self.fields["message"].required = True
            self.fields["message"].help_text = "The first entry of the timeline."

    def ordered_monitor_ids(self):
        chosen = self.cleaned_data.get("monitors") or []
        return [monitor.id for monitor in chosen]

    def clean(self):
        cleaned = super().clean()
        start = cleaned.get("scheduled_start")
        end = cleaned.get("scheduled_end")
        if (start is None) != (end is None) and not self.errors:
            missing = "scheduled_end" if end is None else "scheduled_start"
            self.add_error(missing, "A maintenance window needs both a start and an end.")
        try:
            Incident.validate_fields(
                title=cleaned.get("title", ""),
                status=cleaned.get("status", ""),
                monitor_ids=self.ordered_monitor_ids(),
                scheduled_start=start,
                scheduled_end=end,
            )
        except ValidationError as error:
            errors_to_form(self, error, INCIDENT_FORM_FIELDS)
        return cleaned


class TimelineInline(admin.TabularInline):
    """The timeline, read-only: entries are appended through the form above."""

    model = IncidentUpdate
    fields = ["sequence", "created_at", "status", "message"]
    readonly_fields = fields
    ordering = ["-sequence"]
    extra = 0
    can_delete = False
    verbose_name = "timeline entry"
    verbose_name_plural = "timeline (newest first)"

    def has_add_permission(self, request, obj=None):
        return False


class MaintenanceFilter(admin.SimpleListFilter):
    title = "kind"
    parameter_name = "maintenance"

    def lookups(self, request, model_admin):
        return [("true", "Maintenance windows"), ("false", "Incidents")]

    def queryset(self, request, queryset):
        if self.value() == "true":
            return queryset.maintenance()
        if self.value() == "false":
            return queryset.not_maintenance()
        return queryset


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    form = IncidentForm
    inlines = [TimelineInline]
    list_display = ["title", "id", "status", "kind", "started_at", "resolved_at"]
    list_filter = ["status", MaintenanceFilter, "monitors"]
    search_fields = ["id", "title", "updates__message"]
    date_hierarchy = "started_at"
    readonly_fields = ["id", "started_at", "resolved_at"]
    actions = ["resolve_selected"]
    list_per_page = 50

    def get_fieldsets(self, request, obj=None):
        schedule = ["scheduled_start", "scheduled_end"]
        if obj is not None and obj.window is None:
            schedule = []
        main = ["title", "status", "message", "monitors", "notify"]
        fieldsets = [(None, {"fields": main})]
        if schedule:
            fieldsets.append(
                (
                    "Maintenance window",
                    {
                        "fields": schedule,
                        "description": "Give both to schedule a maintenance window.",
                    },
                )
            )
        if obj is not None:
            fieldsets.append(("Record", {"fields": ["id", "started_at", "resolved_at"]}))
        return fieldsets

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("maintenance_window")

    @admin.display(description="kind")
    def kind(self, incident):
        return "maintenance" if incident.window is not None else "incident"

    def save_model(self, request, obj, form, change):
        actor = Actor.for_user(request.user)
        data = form.cleaned_data
        try:
            if not change:
                created = Incident.open_incident(
                    title=data["title"],
                    status=data["status"],
                    message=data["message"],
                    monitor_ids=form.ordered_monitor_ids(),
                    scheduled_start=data.get("scheduled_start"),
                    scheduled_end=data.get("scheduled_end"),
                    actor=actor,
                    notify=data.get("notify", False),
                )
                obj.pk = created.pk
                obj._state.adding = False
                obj.refresh_from_db()
                return
            edits = {
                "title": data["title"],
                "monitor_ids": form.ordered_monitor_ids(),
            }
            if obj.window is not None:
                edits["scheduled_start"] = data.get("scheduled_start")
                edits["scheduled_end"] = data.get("scheduled_end")
            if "status" in form.changed_data or data.get("message"):
                edits["status"] = data["status"]
                edits["message"] = data.get("message", "")
            obj.change(actor=actor, notify=data.get("notify", False), **edits)
        except (ValidationError, Conflict) as error:
            # Validated in the form already; a race can still lose. Say so.
            messages.error(request, f"Nothing was saved: {error}")
            obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        # Monitors are set by the domain in save_model (not form.save_m2m);
        # the timeline inline is read-only, so saving it writes nothing.
        for formset in formsets:
            formset.save()

    def delete_model(self, request, obj):
        obj.delete_with_audit(Actor.for_user(request.user))

    def delete_queryset(self, request, queryset):
        for incident in queryset:
            incident.delete_with_audit(Actor.for_user(request.user))

    @admin.action(description="Resolve selected incidents")
    def resolve_selected(self, request, queryset):
        actor = Actor.for_user(request.user)
        resolved = 0
        for incident in queryset.unresolved():
            incident.resolve("This incident has been resolved.", actor=actor)
            resolved += 1
        self.message_user(request, f"Resolved {resolved} incident(s).", messages.SUCCESS)


# --- Monitors -------------------------------------------------------------


class MonitorForm(forms.ModelForm):
    url = forms.URLField(required=False, assume_scheme="https", max_length=2000)

    class Meta:
        model = Monitor
        fields = ["id", "name", "url", "status"]

    def clean(self):
        cleaned = super().clean()
        values = {k: cleaned[k] for k in ("name", "url", "status") if k in cleaned}
        if not self.instance._state.adding:
            values.pop("id", None)
        elif cleaned.get("id"):
            values["id"] = cleaned["id"]
        try:
            Monitor.validate_fields(**values)
        except ValidationError as error:
            errors_to_form(self, error)
        return cleaned


class TransitionInline(admin.TabularInline):
    model = MonitorStatusChange
    fields = ["created_at", "from_status", "to_status"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    verbose_name_plural = "status history"

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Monitor)
class MonitorAdmin(admin.ModelAdmin):
    form = MonitorForm
    list_display = ["name", "id", "status", "in_maintenance_now", "url"]
    list_filter = ["status"]
    search_fields = ["id", "name", "url"]
    inlines = [TransitionInline]

    def get_readonly_fields(self, request, obj=None):
        return ["id"] if obj is not None else []

    def get_queryset(self, request):
        return super().get_queryset(request).with_maintenance()

    @admin.display(boolean=True, description="in maintenance")
    def in_maintenance_now(self, monitor):
        return monitor.is_in_maintenance()

    def save_model(self, request, obj, form, change):
        actor = Actor.for_user(request.user)
        data = form.cleaned_data
        try:
            if not change:
                created = Monitor.create_monitor(
                    id=data.get("id") or None,
                    name=data["name"],
                    url=data.get("url") or None,
                    status=data["status"],
                    actor=actor,
                )
                obj.pk = created.pk
                obj._state.adding = False
                obj.refresh_from_db()
                return
            obj.change(
                name=data["name"], url=data.get("url") or None, status=data["status"], actor=actor
            )
        except (ValidationError, Conflict) as error:
            messages.error(request, f"Nothing was saved: {error}")

    def has_delete_permission(self, request, obj=None):
        if obj is not None and Incident.objects.open().for_monitor(obj.pk).exists():
            return False  # the API answers 409 for the same reason
        return super().has_delete_permission(request, obj)

    def delete_model(self, request, obj):
        obj.delete_with_audit(Actor.for_user(request.user))

    def delete_queryset(self, request, queryset):
        actor = Actor.for_user(request.user)
        for monitor in queryset:
            try:
                monitor.delete_with_audit(actor)
            except Conflict as error:
                self.message_user(request, str(error), messages.ERROR)


# --- API keys -------------------------------------------------------------


class ApiKeyForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["name"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = ["name", "prefix_display", "created_at", "last_used_at", "state"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix"]
    readonly_fields = ["prefix_display", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke_selected"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name"]
        return ["name", "prefix_display", "created_at", "last_used_at", "revoked_at"]

    @admin.display(description="key")
    def prefix_display(self, key):
        return f"{key.prefix}…"

    @admin.display(description="state")
    def state(self, key):
        return "revoked" if key.is_revoked else "active"

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["name"])
            return
        created, raw = ApiKey.objects.create_key(form.cleaned_data["name"])
        obj.pk = created.pk
        obj._state.adding = False
        obj.refresh_from_db()
        request._kamustatus_raw_key = raw

    def response_add(self, request, obj, post_url_continue=None):
        # Show the raw key exactly once, in this response only: it is never
        # stored, logged or put in a message cookie.
        raw = getattr(request, "_kamustatus_raw_key", None)
        if raw is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "title": "API key created",
            "key": obj,
            "raw_key": raw,
            "opts": self.opts,
        }
        response = TemplateResponse(request, "admin/incidents/apikey/created.html", context)
        response["Cache-Control"] = "no-store"
        return response

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead, so the audit trail keeps its key

    @admin.action(description="Revoke selected API keys")
    def revoke_selected(self, request, queryset):
        for key in queryset:
            key.revoke()
        self.message_user(request, f"Revoked {queryset.count()} key(s).", messages.SUCCESS)


# --- Audit trail ----------------------------------------------------------


@admin.register(AuditRecord)
class AuditRecordAdmin(admin.ModelAdmin):
    list_display = ["created_at", "action", "object_type", "object_id", "actor"]
    list_filter = ["action", "object_type"]
    search_fields = ["object_id", "actor"]
    date_hierarchy = "created_at"
    fields = [
        "created_at",
        "action",
        "object_type",
        "object_id",
        "actor",
        "api_key",
        "user",
        "changes_display",
        "snapshot_display",
    ]
    readonly_fields = fields

    @admin.display(description="changes")
    def changes_display(self, record):
        return self._json(record.changes)

    @admin.display(description="snapshot of what was deleted")
    def snapshot_display(self, record):
        return self._json(record.snapshot)

    def _json(self, value):
        if value is None:
            return "—"
        return format_html("<pre>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# Alert channels, alerts and their attempts (incidents/alerts/admin.py).
import incidents.alerts.admin  # noqa: E402, F401
