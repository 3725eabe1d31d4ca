"""The operators' face. Every write delegates to the domain (incidents/models/):
an edited status appends a timeline entry exactly as the API's PATCH does."""

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.contrib.admin.widgets import AdminSplitDateTime
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django_tasks_db.models import DBTaskResult

from incidents.admin_site import local_time_column, zoned_help, zoned_label
from incidents.alerts.models import AlertChannel
from incidents.checks.admin import READ_ONLY as CHECK_READ_ONLY
from incidents.checks.admin import CheckAdminMixin, CheckFormMixin, check_change, check_fieldsets
from incidents.models import (
    MONITOR_PAGE_ORDER,
    URL_MAX_LENGTH,
    Actor,
    ApiKey,
    AuditRecord,
    Conflict,
    Incident,
    IncidentUpdate,
    Monitor,
    MonitorStatusChange,
    isostring,
)

# Domain field names -> admin form field names, for errors raised by the rules.
INCIDENT_FORM_FIELDS = {"monitor_ids": "monitors"}
MONITOR_FORM_FIELDS = {"group_id": "group"}


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
        label=zoned_label("Scheduled start"),
        required=False,
        widget=AdminSplitDateTime,
        help_text=zoned_help("Maintenance windows only."),
    )
    scheduled_end = forms.SplitDateTimeField(
        label=zoned_label("Scheduled end"),
        required=False,
        widget=AdminSplitDateTime,
        help_text=zoned_help("Maintenance windows only."),
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
        schedule = {}
        if not (self.has_error("scheduled_start") or self.has_error("scheduled_end")):
            # The domain's rules of a schedule (both or neither; the end after
            # the start), in the API's words, on the fields at fault.
            schedule = {name: cleaned.get(name) for name in ("scheduled_start", "scheduled_end")}
        try:
            Incident.validate_fields(
                title=cleaned.get("title", ""),
                status=cleaned.get("status", ""),
                monitor_ids=self.ordered_monitor_ids(),
                **schedule,
            )
        except ValidationError as error:
            errors_to_form(self, error, INCIDENT_FORM_FIELDS)
        return cleaned


class TimelineEntryForm(forms.ModelForm):
    class Meta:
        model = IncidentUpdate
        fields = ["message"]
        widgets = {"message": forms.Textarea(attrs={"rows": 2, "cols": 60})}


class TimelineFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        kept = [form for form in self.initial_forms if not self._should_delete_form(form)]
        if self.initial_forms and not kept:
            raise ValidationError(IncidentUpdate.ONLY_ENTRY)


class TimelineInline(admin.TabularInline):
    """The timeline: a message can be fixed and an entry deleted (through the
    domain, see ``IncidentAdmin.save_formset``); entries are appended through
    the form above."""

    model = IncidentUpdate
    form = TimelineEntryForm
    formset = TimelineFormSet
    fields = ["sequence", "posted_at", "status", "message"]
    readonly_fields = ["sequence", "posted_at", "status"]
    # The id is a text primary key: excluding it makes the admin render its
    # hidden input, without which no row of the formset validates.
    exclude = ["id"]
    ordering = ["-sequence"]
    extra = 0
    verbose_name = "timeline entry"
    verbose_name_plural = "timeline (newest first): fix a message, or delete an entry"

    posted_at = local_time_column("created_at", "posted")

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
    list_display = ["title", "id", "status", "kind", "started_local", "resolved_local"]
    list_filter = ["status", MaintenanceFilter, "monitors"]
    search_fields = ["id", "title", "updates__message"]
    date_hierarchy = "started_at"
    readonly_fields = ["id", "started_local", "resolved_local", "schedule_in_utc"]
    actions = ["resolve_selected"]
    list_per_page = 50

    started_local = local_time_column("started_at", "started")
    resolved_local = local_time_column("resolved_at", "resolved")

    @admin.display(description="schedule as stored (UTC)")
    def schedule_in_utc(self, incident):
        window = incident.window
        return f"{isostring(window.scheduled_start)} – {isostring(window.scheduled_end)}"

    def get_inlines(self, request, obj):
        return [TimelineInline] if obj is not None else []  # none yet on the add form

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
            record = ["id", "started_local", "resolved_local"]
            if obj.window is not None:
                record.append("schedule_in_utc")
            fieldsets.append(("Record", {"fields": record}))
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
            if "monitors" not in form.changed_data:
                # Unchanged: links to monitors deleted since (which the
                # picker cannot show) stay as they are.
                del edits["monitor_ids"]
            if "status" in form.changed_data or data.get("message"):
                edits["status"] = data["status"]
                edits["message"] = data.get("message", "")
            obj.change(actor=actor, notify=data.get("notify", False), **edits)
        except (ValidationError, Conflict) as error:
            # Validated in the form already; a race can still lose. Say so.
            messages.error(request, f"Nothing was saved: {error}")
            obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        # Monitors are set by the domain in save_model (not form.save_m2m).
        for formset in formsets:
            self.save_formset(request, form, formset, change)

    def save_formset(self, request, form, formset, change):
        """Timeline fixes go through the domain: audited, and the status
        follows the latest entry left."""
        if formset.model is not IncidentUpdate:
            return super().save_formset(request, form, formset, change)
        actor = Actor.for_user(request.user)
        incident = form.instance
        # What formset.save() would report, for the admin's change message.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        try:
            for entry_form in formset.initial_forms:
                entry = entry_form.instance
                if formset._should_delete_form(entry_form):
                    formset.deleted_objects.append(entry)
                elif "message" in entry_form.changed_data:
                    incident.edit_update(entry.pk, entry_form.cleaned_data["message"], actor)
                    formset.changed_objects.append((entry, ["message"]))
            for entry in formset.deleted_objects:
                incident.delete_update(entry.pk, actor)
        except (Conflict, IncidentUpdate.DoesNotExist) as error:
            messages.error(request, f"The timeline was not fully changed: {error}")

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

NO_ALERT_CHANNEL = (
    "No alert channel is configured: when a monitor fails, the alert is recorded as "
    "suppressed (no channel) and sent nowhere. Add one under Alert channels, or set "
    "ALERT_EMAILS or ALERT_WEBHOOK_URL."
)


def warn_without_alert_channels(request):
    if request.method == "GET" and not AlertChannel.objects.configured():
        messages.warning(request, NO_ALERT_CHANNEL)


class MonitorForm(CheckFormMixin, forms.ModelForm):
    url = forms.URLField(required=False, assume_scheme="https", max_length=URL_MAX_LENGTH)

    class Meta:
        model = Monitor
        fields = ["id", "name", "url", "status", "description", "group", "position"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2, "cols": 60})}

    def clean(self):
        cleaned = super().clean()
        values = {k: cleaned[k] for k in ("name", "url", "status") if k in cleaned}
        if not self.instance._state.adding:
            values.pop("id", None)
        elif cleaned.get("id"):
            values["id"] = cleaned["id"]
        try:
            Monitor.validate_fields(**values, **placement(cleaned))
        except ValidationError as error:
            errors_to_form(self, error, MONITOR_FORM_FIELDS)
        self.clean_check(cleaned)  # checks (issue 14): cleaned["check"]
        return cleaned


def placement(cleaned):
    """A form's description, group and position as the domain takes them."""
    found = {}
    if "description" in cleaned:
        found["description"] = cleaned["description"] or None
    if "group" in cleaned:
        found["group_id"] = cleaned["group"].pk if cleaned["group"] else None
    if cleaned.get("position") is not None:
        found["position"] = cleaned["position"]
    return found


class MonitorPlacementForm(forms.ModelForm):
    """A row of the monitors list: its group and position, typed in place."""

    class Meta:
        model = Monitor
        fields = ["group", "position"]

    def clean(self):
        cleaned = super().clean()
        try:
            Monitor.validate_fields(**placement(cleaned))
        except ValidationError as error:
            errors_to_form(self, error, MONITOR_FORM_FIELDS)
        return cleaned


class TransitionInline(admin.TabularInline):
    model = MonitorStatusChange
    fields = ["changed_at", "from_status", "to_status"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    verbose_name_plural = "status history"

    changed_at = local_time_column("created_at", "changed")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Monitor)
class MonitorAdmin(CheckAdminMixin, admin.ModelAdmin):
    form = MonitorForm
    # In the status page's order; the group and position are typed in the
    # list itself and saved with its Save button (issue 17).
    list_display = ["name", "id", "group", "position", "status", "in_maintenance_now", "url"]
    list_editable = ["group", "position"]
    list_filter = ["status", "group"]
    ordering = MONITOR_PAGE_ORDER
    search_fields = ["id", "name", "url", "description"]
    inlines = [TransitionInline]
    actions = ["check_now"]  # checks (issue 14)

    def get_fieldsets(self, request, obj=None):
        monitor = ["id", "name", "url", "status"]
        shown = ["description", "group", "position"]
        return [
            (None, {"fields": monitor}),
            ("On the status page", {"fields": shown}),
            *check_fieldsets(obj),  # checks (issue 14)
        ]

    def get_changelist_form(self, request, **kwargs):
        return super().get_changelist_form(request, form=MonitorPlacementForm, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return ["id", *CHECK_READ_ONLY] if obj is not None else []

    def get_queryset(self, request):
        return super().get_queryset(request).with_maintenance().select_related("group")

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
                    check=data.get("check"),
                    **placement(data),
                    actor=actor,
                )
                obj.pk = created.pk
                obj._state.adding = False
                obj.refresh_from_db()
                return
            if isinstance(form, MonitorPlacementForm):  # a row of the list
                obj.change(**placement(data), actor=actor)
                return
            obj.change(
                name=data["name"],
                url=data.get("url") or None,
                status=data["status"],
                **placement(data),
                **check_change(obj, data.get("check")),  # checks (issue 14)
                actor=actor,
            )
        except (ValidationError, Conflict) as error:
            messages.error(request, f"Nothing was saved: {error}")

    def changelist_view(self, request, extra_context=None):
        warn_without_alert_channels(request)
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        warn_without_alert_channels(request)
        return super().change_view(request, object_id, form_url, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        """Refused while an open incident needs the monitor, saying why (the
        API's 409 sentence), back on the monitor's page."""
        monitor = self.get_object(request, unquote(object_id))
        refusal = monitor.why_not_deletable() if monitor is not None else None
        if refusal:
            self.message_user(request, refusal, messages.ERROR)
            return redirect(reverse("admin:incidents_monitor_change", args=[quote(monitor.pk)]))
        return super().delete_view(request, object_id, extra_context)

    def get_deleted_objects(self, objs, request):
        """The list's "Delete selected" confirmation: a monitor an open
        incident needs is shown as protected, with the reason, and nothing
        is deleted (instead of a success message that would not be true)."""
        deletable, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        refusals = [monitor.why_not_deletable() for monitor in objs]
        return deletable, counts, perms_needed, [*protected, *filter(None, refusals)]

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
    list_display = ["name", "prefix_display", "created_local", "last_used_local", "state"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix"]
    readonly_fields = ["prefix_display", "created_local", "last_used_local", "revoked_local"]
    actions = ["revoke_selected"]

    created_local = local_time_column("created_at", "created")
    last_used_local = local_time_column("last_used_at", "last used")
    revoked_local = local_time_column("revoked_at", "revoked")

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name"]
        return ["name", "prefix_display", "created_local", "last_used_local", "revoked_local"]

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
    list_display = ["recorded_at", "action", "object_type", "object_id", "actor"]
    list_filter = ["action", "object_type"]
    search_fields = ["object_id", "actor"]
    date_hierarchy = "created_at"
    recorded_at = local_time_column("created_at", "recorded")
    fields = [
        "recorded_at",
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


# Monitor groups (incidents/groups/admin.py).
import incidents.groups.admin  # noqa: E402, F401

# django-tasks' result table is the worker's business, not the operators'.
if admin.site.is_registered(DBTaskResult):
    admin.site.unregister(DBTaskResult)
