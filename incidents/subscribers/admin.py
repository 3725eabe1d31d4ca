"""Subscribers in the admin: search, export (CSV), delete, send a test; the
events and every delivery with its attempts, read-only."""

import csv

from django.contrib import admin, messages
from django.http import HttpResponse
from django.utils import timezone

from incidents.subscribers.models import Delivery, DeliveryAttempt, Event, Subscriber


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    list_display = ["id", "target", "kind", "confirmed", "scope", "created_at"]
    list_filter = [("confirmed_at", admin.EmptyFieldListFilter)]
    search_fields = ["id", "email", "webhook_url"]
    fields = ["id", "email", "webhook_url", "all_monitors", "monitors_display", "created_at"]
    readonly_fields = fields + ["confirmed_at"]
    actions = ["export_csv", "send_test"]
    list_per_page = 100

    def get_fields(self, request, obj=None):
        return [*self.fields, "confirmed_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("monitor_links__monitor")

    def has_add_permission(self, request):
        return False  # visitors subscribe on the page; key holders through the API

    @admin.display(description="address or URL")
    def target(self, subscriber):
        return subscriber.email or subscriber.webhook_url

    @admin.display(boolean=True, description="confirmed")
    def confirmed(self, subscriber):
        return subscriber.is_confirmed

    @admin.display(description="told about")
    def scope(self, subscriber):
        if subscriber.all_monitors:
            return "everything"
        return ", ".join(link.monitor.name for link in subscriber.monitor_links.all())

    monitors_display = scope

    def delete_model(self, request, obj):
        obj.unsubscribe()

    def delete_queryset(self, request, queryset):
        for subscriber in queryset:
            subscriber.unsubscribe()

    @admin.action(description="Export selected subscribers (CSV)")
    def export_csv(self, request, queryset):
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="subscribers-{stamp}.csv"'
        response["Cache-Control"] = "no-store"
        writer = csv.writer(response)
        writer.writerow(["id", "email", "webhookUrl", "monitorIds", "confirmed", "createdAt"])
        for subscriber in queryset.prefetch_related("monitor_links").order_by("created_at", "id"):
            row = subscriber.to_dict()
            writer.writerow(
                [
                    row["id"],
                    subscriber.email or "",
                    subscriber.webhook_url or "",
                    " ".join(row["monitorIds"]),
                    "yes" if row["confirmed"] else "no",
                    row["createdAt"],
                ]
            )
        return response

    @admin.action(description="Send a test notification")
    def send_test(self, request, queryset):
        count = 0
        for subscriber in queryset.confirmed():
            subscriber.send_test()
            count += 1
        skipped = queryset.count() - count
        self.message_user(
            request,
            f"Queued {count} test notification(s); the worker sends them."
            + (f" {skipped} unconfirmed subscriber(s) skipped." if skipped else ""),
            messages.SUCCESS,
        )


class ReadOnly:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Event)
class EventAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["created_at", "type", "incident_ref", "title", "delivery_count", "fanned_out"]
    list_filter = ["type"]
    search_fields = ["id", "incident_ref"]
    fields = ["id", "type", "incident_ref", "occurred_at", "created_at", "fanned_out_at"]
    readonly_fields = fields

    @admin.display(description="fanned out", boolean=True)
    def fanned_out(self, event):
        return event.fanned_out_at is not None


class AttemptInline(ReadOnly, admin.TabularInline):
    model = DeliveryAttempt
    fields = ["number", "started_at", "duration_ms", "status_code", "succeeded", "error"]
    readonly_fields = fields
    extra = 0


@admin.register(Delivery)
class DeliveryAdmin(ReadOnly, admin.ModelAdmin):
    list_display = [
        "created_at",
        "kind",
        "channel",
        "event",
        "subscriber_ref",
        "status",
        "attempt_count",
        "last_error",
    ]
    list_filter = ["status", "kind", "channel"]
    search_fields = ["subscriber_ref", "event__id", "event__incident_ref"]
    list_select_related = ["event"]
    fields = [
        "kind",
        "channel",
        "event",
        "subscriber_ref",
        "status",
        "attempt_count",
        "next_attempt_at",
        "finished_at",
        "last_error",
    ]
    readonly_fields = fields
    inlines = [AttemptInline]
