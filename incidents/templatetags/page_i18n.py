"""The pages' own i18n tags.

- ``{{ moment|page_date }}``: a date as the visitor's language writes it —
  ``page_date`` (a day and time), ``page_date:"time"`` (the time of day) and
  ``page_date:"month"`` (a month and year), in the active language's formats
  (incidents/languages.py), in the time zone Django's ``date`` filter uses;
- ``{% offered_languages as LANGUAGES %}``: the picker's (code, name) pairs,
  each name in its own language (Django's ``get_available_languages``
  translates them into the current one).
"""

from django import template
from django.template.defaultfilters import date

from incidents import languages

register = template.Library()


@register.filter(expects_localtime=True, is_safe=False)
def page_date(value, kind="datetime"):
    return date(value, languages.date_format(kind))


@register.simple_tag
def offered_languages():
    return languages.named()
