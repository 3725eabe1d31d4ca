"""The visitor's forms: subscribe (on the status page and /subscribe/) and
the manage page's choice of monitors."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from incidents.models import Monitor
from incidents.subscribers.models import EMAIL_MAX_LENGTH, check_email


class MonitorChoiceForm(forms.Form):
    """The monitors ticked, or none for everything."""

    monitors = forms.MultipleChoiceField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["monitors"].choices = list(
            Monitor.objects.in_page_order().values_list("id", "name")
        )

    def clean_monitors(self):
        return list(dict.fromkeys(self.cleaned_data["monitors"]))


class SubscribeForm(MonitorChoiceForm):
    email = forms.CharField(max_length=EMAIL_MAX_LENGTH, strip=True)
    # The honeypot: hidden from people by CSS, filled in by bots. Not named like
    # anything a browser autofills (a "website" field would be, for some people).
    leave_empty = forms.CharField(required=False)

    def clean_email(self):
        try:
            return check_email(self.cleaned_data["email"])
        except ValidationError:
            raise ValidationError(_("Enter a valid e-mail address.")) from None

    @property
    def is_bot(self):
        return bool(self.data.get("leave_empty"))
