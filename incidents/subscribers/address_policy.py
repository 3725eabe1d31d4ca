"""Where a webhook subscriber may point: the checks' address policy
(``incidents.checks.addresses``), applied when the URL is given and again
before each delivery."""

from django.core.exceptions import ValidationError

from incidents.checks.addresses import HOST_REFUSAL, refusal_for_url
from incidents.models import HTTP_URL, URL_MAX_LENGTH
from incidents.models.fields import NOT_HTTP_URL, at_most

refused_reason = refusal_for_url


def check_webhook_url(url):
    """The URL if a webhook may be sent there; raises ValidationError({"webhook_url"})."""
    if not isinstance(url, str) or len(url) > URL_MAX_LENGTH:
        raise ValidationError({"webhook_url": at_most(URL_MAX_LENGTH)})
    try:
        HTTP_URL(url)
    except ValidationError:
        raise ValidationError({"webhook_url": NOT_HTTP_URL}) from None
    if refusal_for_url(url):
        raise ValidationError({"webhook_url": HOST_REFUSAL})
    return url
