"""``/api/subscribers``: list and add subscribers (e-mail or webhook), get and
delete one. Not cached: subscribers change without touching the content
generation, and only key holders see them."""

from django.http import HttpResponse
from django.urls import reverse

from incidents.api.decorators import (
    api_view,
    authorize,
    dispatch,
    domain_errors,
    invalid,
    json_body,
    json_response,
    not_found_error,
)
from incidents.api.paging import ID_RE, IncidentListQuery, keyset_page
from incidents.api.validation import Spec
from incidents.subscribers.models import SUBSCRIBER, Subscriber


def _one_of_email_or_webhook(cleaned):
    given = [name for name in ("email", "webhookUrl") if name in cleaned]
    if len(given) != 1:
        message = "give exactly one of email and webhookUrl"
        raise invalid({"email": message, "webhookUrl": message})
    if "webhookUrl" in cleaned and "skipConfirmation" in cleaned:
        raise invalid({"skipConfirmation": "only for e-mail subscribers (webhooks need none)"})


NEW_SUBSCRIBER = Spec(
    SUBSCRIBER,
    creating=True,
    rules=[_one_of_email_or_webhook],
    schema_rules={"oneOf": [{"required": ["email"]}, {"required": ["webhookUrl"]}]},
    example={"email": "ops@example.com", "monitorIds": ["mon_abc123"]},
)


class SubscriberListQuery(IncidentListQuery):
    """``limit`` and ``cursor``, checked as for incidents."""

    status = maintenance = monitorId = None


@api_view
def subscribers(request):
    return dispatch(request, GET=list_subscribers, POST=create_subscriber)


@api_view
def subscriber(request, subscriber_id):
    return dispatch(request, subscriber_id, GET=get_subscriber, DELETE=delete_subscriber)


def _subscriber_or_404(subscriber_id):
    found = None
    if ID_RE.fullmatch(subscriber_id):
        found = Subscriber.objects.prefetch_related("monitor_links").filter(pk=subscriber_id)
        found = found.first()
    if found is None:
        raise not_found_error("subscriber")
    return found


@authorize
def list_subscribers(request):
    query = SubscriberListQuery.from_request(request)
    rows = Subscriber.objects.prefetch_related("monitor_links").order_by("-created_at", "-id")
    page, cursor = keyset_page(rows, "created_at", query["cursor"], query["limit"])
    headers = {}
    if cursor is not None:
        url = request.build_absolute_uri(f"{request.path}?limit={query['limit']}&cursor={cursor}")
        headers["Link"] = f'<{url}>; rel="next"'
    return json_response([item.to_dict() for item in page], headers=headers)


@authorize
@json_body
def create_subscriber(request):
    data = NEW_SUBSCRIBER.clean(request.json)
    with domain_errors():
        if "webhookUrl" in data:
            created = Subscriber.objects.add_webhook(data["webhookUrl"], data.get("monitorIds"))
        else:
            created = Subscriber.objects.add_email(
                data["email"], data.get("monitorIds"), data.get("skipConfirmation", False)
            )
    created = Subscriber.objects.prefetch_related("monitor_links").get(pk=created.pk)
    body = created.to_dict()
    if created.webhook_url:
        # Shown once, here, so the receiver can check signatures.
        body["webhookSecret"] = created.webhook_secret
    location = request.build_absolute_uri(reverse("api:subscriber", args=[created.pk]))
    return json_response(body, status=201, headers={"Location": location})


@authorize
def get_subscriber(request, subscriber_id):
    return json_response(_subscriber_or_404(subscriber_id).to_dict())


@authorize
def delete_subscriber(request, subscriber_id):
    _subscriber_or_404(subscriber_id).unsubscribe()
    response = HttpResponse(status=204)
    del response["Content-Type"]
    return response
