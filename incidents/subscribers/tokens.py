"""The signed links in subscribers' mails: no login, no stored token.

A manage link names the subscriber and is signed with SECRET_KEY, so it works
until the subscriber is deleted (unsubscribing); a confirmation link carries
its time too and lapses with the unconfirmed subscription.
"""

from django.core import signing
from django.urls import reverse

from incidents.site import absolute
from incidents.subscribers.models import CONFIRMATION_LAPSES_AFTER

MANAGE = signing.Signer(salt="kamustatus.subscribers.manage")
CONFIRM = signing.TimestampSigner(salt="kamustatus.subscribers.confirm")


def manage_token(subscriber):
    return MANAGE.sign(subscriber.pk)


def confirm_token(subscriber):
    return CONFIRM.sign(subscriber.pk)


def subscriber_id_from_manage(token):
    """The subscriber id a manage token names, or None if it is not ours."""
    try:
        return MANAGE.unsign(token)
    except signing.BadSignature:
        return None


def subscriber_id_from_confirm(token):
    """The subscriber id, or None for a forged or lapsed confirmation link."""
    try:
        return CONFIRM.unsign(token, max_age=CONFIRMATION_LAPSES_AFTER)
    except signing.BadSignature:  # SignatureExpired is one
        return None


def manage_url(subscriber):
    return absolute(reverse("subscribers:manage", args=[manage_token(subscriber)]))


def unsubscribe_url(subscriber):
    return absolute(reverse("subscribers:unsubscribe", args=[manage_token(subscriber)]))


def confirm_url(subscriber):
    return absolute(reverse("subscribers:confirm", args=[confirm_token(subscriber)]))
