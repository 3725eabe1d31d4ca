"""``{{ moment|page_date }}``: a date as the visitor's language writes it.

``page_date`` (a day and time), ``page_date:"time"`` (the time of day) and
``page_date:"month"`` (a month and year), in the active language's formats
(incidents/languages.py), in the time zone Django's ``date`` filter uses.
"""

from django import template
from django.template.defaultfilters import date

from incidents.languages import date_format

register = template.Library()


@register.filter(expects_localtime=True, is_safe=False)
def page_date(value, kind="datetime"):
    return date(value, date_format(kind))
