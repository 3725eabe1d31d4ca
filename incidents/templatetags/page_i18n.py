"""The pages' own i18n tags.

- ``{{ moment|page_date }}``: a date as the visitor's language writes it —
  ``page_date`` (a day and time), ``page_date:"time"`` (the time of day),
  ``page_date:"day"`` (a day) and
  ``page_date:"month"`` (a month and year), in the active language's formats
  (incidents/languages.py), in the time zone Django's ``date`` filter uses;
  each value is written once per format, language and time zone (a bounded
  memo: a page writes the same moments again and again);
- ``{% offered_languages as LANGUAGES %}``: the picker's (code, name) pairs,
  each name in its own language (Django's ``get_available_languages``
  translates them into the current one).
"""

from functools import lru_cache

from django import template
from django.template.defaultfilters import date
from django.utils.translation import get_language

from incidents import languages

register = template.Library()


@register.filter(expects_localtime=True, is_safe=False)
def page_date(value, kind="datetime"):
    tzinfo = getattr(value, "tzinfo", None)
    # Aware datetimes compare (and hash) by their instant: the zone is part of the key.
    zone = (str(tzinfo), value.utcoffset()) if tzinfo is not None else None
    return _written(value, zone, languages.date_format(kind), get_language())


@lru_cache(maxsize=4096)
def _written(value, zone, date_format, language):
    """``value`` in ``date_format`` in ``language`` (the active one), in the
    zone it is in."""
    return date(value, date_format)


@register.simple_tag
def offered_languages():
    return languages.named()
