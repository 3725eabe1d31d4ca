"""``{{ text|markdown }}``: operators' text as safe HTML (incidents/markdown.py)."""

from django import template

from incidents import markdown as rendering

register = template.Library()


@register.filter(name="markdown", is_safe=True)
def markdown(text):
    return rendering.render(text or "")
