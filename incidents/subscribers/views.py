"""The visitor's pages: subscribe, confirm, manage, unsubscribe.

None of them uses a session or a cookie, so none needs a CSRF token: the
subscribe form lives on the status page, which is stored in the shared cache
and served to everyone alike (a token would be one visitor's), and it grants
nothing a forged cross-site POST could abuse that a direct POST could not —
rate limits per client address and per e-mail address, and a honeypot field,
guard it instead. The other pages are reached through a signed link: the
token in the URL is the credential, and RFC 8058 requires the one-click
unsubscribe POST to work without any other.

The subscribe answer is rendered without the request and says nothing about
the address, so it is byte-for-byte the same for a new, a pending and a
confirmed address.
"""

from django.conf import settings
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from incidents import ratelimit
from incidents.appearance.page import page_context
from incidents.models import Monitor
from incidents.subscribers import tokens
from incidents.subscribers.forms import MonitorChoiceForm, SubscribeForm
from incidents.subscribers.models import Subscriber


class SubscribeLimiter(ratelimit.FailureLimiter):
    """Subscribe requests per client address (every request counts)."""

    @property
    def limit(self):
        return settings.SUBSCRIBE_LIMIT

    @property
    def window(self):
        return settings.SUBSCRIBE_WINDOW


subscribe_requests = SubscribeLimiter("subscribe")


def page(template, context=None, status=200, headers=None):
    """A page of this app: no request, so nothing per visitor in it."""
    context = {
        **page_context(),
        "monitors": [{"monitor": m} for m in Monitor.objects.in_page_order()],
        **(context or {}),
    }
    response = HttpResponse(render_to_string(template, context), status=status, headers=headers)
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def subscribe(request):
    if request.method != "POST":
        return page("subscribers/subscribe.html")
    address = ratelimit.client_address(request)
    wait = subscribe_requests.retry_after(address)
    if wait is not None:
        return page(
            "subscribers/subscribe.html",
            {"limited": True, "minutes": -(-wait // 60)},
            status=429,
            headers={"Retry-After": str(wait)},
        )
    subscribe_requests.record_failure(address)
    form = SubscribeForm(request.POST)
    if form.is_bot:
        return page("subscribers/subscribe.html", {"answered": True})
    if not form.is_valid():
        chosen = request.POST.getlist("monitors")
        return page("subscribers/subscribe.html", {"form": form, "chosen": chosen}, status=400)
    Subscriber.objects.subscribe(form.cleaned_data["email"], form.cleaned_data["monitors"])
    return page("subscribers/subscribe.html", {"answered": True})


def _subscriber(subscriber_id):
    if subscriber_id is None:
        return None
    return Subscriber.objects.prefetch_related("monitor_links").filter(pk=subscriber_id).first()


def _bad_link():
    return page("subscribers/link.html", {"state": "bad-link"}, status=404)


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def confirm(request, token):
    subscriber = _subscriber(tokens.subscriber_id_from_confirm(token))
    if subscriber is None:
        return _bad_link()
    if request.method == "POST" or subscriber.is_confirmed:
        subscriber.confirm()
        return page(
            "subscribers/link.html",
            {"state": "confirmed", "manage_url": tokens.manage_url(subscriber)},
        )
    return page("subscribers/link.html", {"state": "confirm", "action": request.path})


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def manage(request, token):
    subscriber_id = tokens.subscriber_id_from_manage(token)
    if subscriber_id is None:
        return _bad_link()
    subscriber = _subscriber(subscriber_id)
    if subscriber is None:
        return page("subscribers/link.html", {"state": "unsubscribed"})
    context = {"subscriber": subscriber, "token": token, "chosen": subscriber.monitor_ids}
    if request.method == "POST":
        form = MonitorChoiceForm(request.POST)
        if not form.is_valid():
            context.update(form=form, chosen=request.POST.getlist("monitors"))
            return page("subscribers/manage.html", context, status=400)
        subscriber.set_monitors(Subscriber.check_monitors(form.cleaned_data["monitors"]))
        context.update(saved=True, chosen=subscriber.monitor_ids)
    return page("subscribers/manage.html", context)


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request, token):
    """GET asks; any POST (the one-click ``List-Unsubscribe=One-Click`` or
    the button) unsubscribes at once. Repeating it is harmless."""
    subscriber_id = tokens.subscriber_id_from_manage(token)
    if subscriber_id is None:
        return _bad_link()
    subscriber = _subscriber(subscriber_id)
    if request.method == "POST":
        if subscriber is not None:
            subscriber.unsubscribe()
        return page("subscribers/link.html", {"state": "unsubscribed"})
    if subscriber is None:
        return page("subscribers/link.html", {"state": "unsubscribed"})
    return page("subscribers/link.html", {"state": "unsubscribe", "action": request.path})
