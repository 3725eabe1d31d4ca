"""What a subscriber receives: the mail (plain text and HTML, the user's text
escaped in HTML as the page shows it) with the RFC 8058 one-click
unsubscribe headers, or the webhook body.

The words that depend only on the event are worked out once per event
(``EventWords``) and reused for every subscriber in a batch. Mails are written
in the page's default language (incidents/languages.py): the worker sends
them, with no visitor to ask.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from incidents.appearance.page import page_settings
from incidents.languages import default_language
from incidents.models import Monitor, isostring
from incidents.overview import INCIDENT_LABELS
from incidents.site import absolute
from incidents.subscribers import tokens
from incidents.subscribers.models import Delivery, Event

HEADLINES = {
    Event.INCIDENT_CREATED: _("New incident"),
    Event.INCIDENT_UPDATED: _("Incident update"),
    Event.INCIDENT_RESOLVED: _("Resolved"),
    Event.MAINTENANCE_SCHEDULED: _("Scheduled maintenance"),
    Event.MAINTENANCE_STARTED: _("Maintenance in progress"),
    Event.MAINTENANCE_COMPLETED: _("Maintenance completed"),
    Event.MAINTENANCE_CANCELLED: _("Maintenance cancelled"),
}
SUBJECTS = {
    Delivery.CONFIRMATION: _("Confirm your subscription"),
    Delivery.REMINDER: _("You are subscribed"),
    Delivery.TEST: _("Test notification"),
}
USER_AGENT = "Kamustatus-Subscriptions/1"


def one_line(text):
    """No line breaks in a mail header."""
    return " ".join(str(text).split())


def parse_time(value):
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


@dataclass
class EventWords:
    """An event's part of every mail about it."""

    event: Event
    context: dict = field(default_factory=dict)

    @classmethod
    def for_event(cls, event):
        with translation.override(default_language()):
            return cls._for_event(event)

    @classmethod
    def _for_event(cls, event):
        incident = event.incident
        latest = event.latest_update or {}
        names = dict(Monitor.objects.filter(pk__in=event.monitor_ids).values_list("pk", "name"))
        window = incident.get("maintenance")
        context = {
            "event": event,
            "headline": str(HEADLINES[event.type]),
            "title": incident.get("title", ""),
            "status_label": "" if window else str(INCIDENT_LABELS.get(incident.get("status"), "")),
            "message": latest.get("message", ""),
            "affects": [names[i] for i in event.monitor_ids if i in names],
            "window_start": parse_time(incident.get("scheduledStart")),
            "window_end": parse_time(incident.get("scheduledEnd")),
            "permalink": absolute(reverse("incident-page", args=[event.incident_ref])),
        }
        context["subject"] = f"{context['headline']}: {one_line(context['title'])}"
        return cls(event, context)


def mail_context(delivery, words=None):
    subscriber = delivery.subscriber
    context = {
        "page_name": page_settings().name,
        "kind": delivery.kind,
        "manage_url": tokens.manage_url(subscriber),
        "unsubscribe_url": tokens.unsubscribe_url(subscriber),
    }
    if delivery.kind == Delivery.CONFIRMATION:
        context["confirm_url"] = tokens.confirm_url(subscriber)
        context["monitor_names"] = [link.monitor.name for link in subscriber.monitor_links.all()]
    if words is not None:
        context.update(words.context)
    else:
        context["subject"] = SUBJECTS[delivery.kind]
    context["subject"] = f"[{one_line(context['page_name'])}] {context['subject']}"
    return context


def build_email(delivery, words=None, connection=None):
    """The mail for one delivery (``words``: its event's, for event mails)."""
    with translation.override(default_language()):
        return _build_email(delivery, words, connection)


def _build_email(delivery, words, connection):
    context = mail_context(delivery, words)
    message = EmailMultiAlternatives(
        subject=context["subject"],
        body=render_to_string("subscribers/mail/message.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[delivery.subscriber.email],
        connection=connection,
        headers={
            "List-Unsubscribe": f"<{context['unsubscribe_url']}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
            "X-Kamustatus-Delivery": str(delivery.pk),
        },
    )
    message.attach_alternative(
        render_to_string("subscribers/mail/message.html", context), "text/html"
    )
    return message


def webhook_payload(delivery):
    """The JSON body: the event's (same ``id`` for every subscriber, so a
    receiver can tell a repeat), or a test without an incident."""
    if delivery.event is not None:
        return delivery.event.payload()
    return {
        "id": f"test_{delivery.pk}",
        "type": "test",
        "occurredAt": isostring(timezone.now()),
        "incident": None,
    }
