"""The check in the admin: one form field per setting, written from
``definition.SETTINGS`` (so the labels, bounds and messages are the API's),
the last result and the ping URL shown read-only, and a "check now" action.

MonitorAdmin (incidents/admin.py) mixes ``CheckAdminMixin`` in and its form
mixes ``CheckFormMixin`` in."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join

from incidents.checks import definition
from incidents.checks.definition import SETTINGS, TYPES
from incidents.checks.scheduler import run_checks_now
from incidents.models import CheckResult, isostring

PREFIX = "check_"
TYPE_FIELD = PREFIX + "type"
RECENT_RESULTS = 10


def _form_field(setting):
    applies = ", ".join(setting.types)
    help_text = " ".join(
        part for part in (setting.description, f"({applies}; {setting.message()})") if part
    )
    common = {"required": False, "label": setting.name, "help_text": help_text}
    if setting.kind == definition.INT:
        return forms.IntegerField(**common)
    if setting.kind == definition.BOOLEAN:
        return forms.BooleanField(**common)
    if setting.kind == definition.CHOICE:
        return forms.ChoiceField(choices=[(c, c) for c in setting.choices], **common)
    if setting.kind == definition.STATUS_LIST:
        common["help_text"] = "Comma-separated, e.g. 200, 204; empty: any from 200 to 399."
        return forms.CharField(**common)
    size = 80 if setting.kind == definition.URL else 40
    widget = forms.TextInput(attrs={"size": size})
    return forms.CharField(max_length=setting.max_length, strip=True, widget=widget, **common)


def form_fields():
    """The check's form fields: its type, then one per setting."""
    fields = {
        TYPE_FIELD: forms.ChoiceField(
            choices=[("", "none: the monitor changes only when reported")]
            + [(kind, kind) for kind in TYPES],
            required=False,
            label="check",
        )
    }
    for setting in SETTINGS:
        if setting.name != "type":
            fields[PREFIX + setting.attribute] = _form_field(setting)
    return fields


def field_names():
    return list(form_fields())


# Declared on a form class, so that the admin's fieldsets may name them.
CheckFields = type("CheckFields", (forms.Form,), form_fields())


class CheckFormMixin(CheckFields):
    """Builds ``cleaned_data["check"]``: the check object as the API takes it
    (or None), checked by the domain's own rules."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        check = getattr(self.instance, "health_check", None) if self.instance.pk else None
        for setting in SETTINGS:
            name = TYPE_FIELD if setting.name == "type" else PREFIX + setting.attribute
            value = getattr(check, setting.attribute) if check is not None else setting.default
            if setting.kind == definition.STATUS_LIST and value:
                value = ", ".join(str(code) for code in value)
            self.fields[name].initial = value if value is not None or name == TYPE_FIELD else ""

    def check_object(self, cleaned):
        kind = cleaned.get(TYPE_FIELD)
        if not kind:
            return None
        body = {"type": kind}
        for setting in definition.settings_for(kind):
            if setting.name == "type":
                continue
            value = cleaned.get(PREFIX + setting.attribute)
            if setting.kind == definition.STATUS_LIST:
                try:
                    value = [int(part) for part in (value or "").split(",") if part.strip()]
                except ValueError:
                    value = ["not a number"]  # the domain's message says what is wanted
                value = value or None
            if value in (None, "") and setting.kind != definition.BOOLEAN:
                if setting.nullable:
                    body[setting.name] = None
                continue  # the default
            body[setting.name] = value
        return body

    def clean_check(self, cleaned):
        check = self.check_object(cleaned)
        try:
            definition.clean_check(check)
        except ValidationError as error:
            for key, problems in error.message_dict.items():
                name = key.removeprefix("check.")
                setting = definition.BY_NAME.get(name)
                field = PREFIX + setting.attribute if setting else TYPE_FIELD
                if name == "type" or setting is None:
                    field = TYPE_FIELD
                self.add_error(field, problems)
        cleaned["check"] = check
        return check


def check_fieldsets(obj):
    fieldsets = [
        ("Check", {"fields": field_names(), "description": "What the monitor watches by "
                   "itself. Settings of other types than the one chosen are ignored."}),
    ]  # fmt: skip
    if obj is not None:
        fieldsets.append(("Last result", {"fields": READ_ONLY}))
    return fieldsets


READ_ONLY = ["last_result", "ping_url", "recent_results"]


class CheckAdminMixin:
    @admin.display(description="last result")
    def last_result(self, monitor):
        check = getattr(monitor, "health_check", None)
        if check is None or check.last_checked_at is None:
            return "never checked"
        return format_html(
            "{} · {} · {}",
            isostring(check.last_checked_at),
            f"{check.response_time_ms} ms" if check.response_time_ms is not None else "no time",
            check.last_error or "no error so far",
        )

    @admin.display(description="ping URL")
    def ping_url(self, monitor):
        check = getattr(monitor, "health_check", None)
        if check is None or check.ping_url is None:
            return "—"
        return format_html(
            "<code>{}</code><br>Ping it from the job: <code>curl -fsS -m 10 --retry 3 {}</code>"
            " (append <code>/fail</code> to report a failure)",
            check.ping_url,
            check.ping_url,
        )

    @admin.display(description="recent results")
    def recent_results(self, monitor):
        found = CheckResult.objects.filter(monitor=monitor).order_by("-checked_at", "-id")
        rows = [
            (
                isostring(result.checked_at),
                result.status,
                "" if result.response_time_ms is None else f"{result.response_time_ms} ms",
                result.error or "",
            )
            for result in found[:RECENT_RESULTS]
        ]
        if not rows:
            return "none yet"
        return format_html(
            "<table><tr><th>checked at</th><th>status</th><th>time</th><th>error</th></tr>"
            "{}</table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )

    @admin.action(description="Check now")
    def check_now(self, request, queryset):
        ids = list(queryset.filter(health_check__type__in=("http", "tcp")).values_list(
            "pk", flat=True))  # fmt: skip
        if not ids:
            self.message_user(
                request, "None of these monitors has an HTTP or TCP check.", messages.WARNING
            )
            return
        names = dict(queryset.values_list("pk", "name"))
        outcomes = run_checks_now(ids)
        for busy in sorted(set(ids) - {outcome.monitor_id for outcome in outcomes}):
            self.message_user(
                request,
                f"{names[busy]}: a worker is running its check right now; "
                "the result will be in a moment.",
                messages.INFO,
            )
        for outcome in outcomes:
            timing = f" in {outcome.response_time_ms} ms" if outcome.response_time_ms else ""
            reason = f": {outcome.error}" if outcome.error else ""
            self.message_user(
                request,
                f"{names[outcome.monitor_id]}: {outcome.status}{timing}{reason}",
                messages.SUCCESS if outcome.status == "operational" else messages.WARNING,
            )


def check_change(monitor, check):
    """``{"check": …}`` for ``Monitor.change`` when the form changed the check,
    else nothing (saving a renamed monitor keeps its schedule and streaks)."""
    current = getattr(monitor, "health_check", None)
    if current is None and check is None:
        return {}
    if current is not None and check is not None:
        existing = current.to_dict()
        existing.pop("pingUrl", None)
        if definition.clean_check(check) == definition.clean_check(existing):
            return {}
    return {"check": check}
