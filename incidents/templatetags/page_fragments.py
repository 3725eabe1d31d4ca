"""``{% fragment "kind" value... %}…{% endfragment %}``: a piece of a page
kept by the values it is rendered from (incidents/pages/fragments.py)."""

import itertools

from django import template
from django.utils.safestring import mark_safe

from incidents.pages import fragments

register = template.Library()

_serials = itertools.count()


class FragmentNode(template.Node):
    def __init__(self, kind, values, nodelist):
        self.kind = kind
        self.values = values
        self.nodelist = nodelist
        # Every compiled tag is its own: a template loaded again (changed) keys anew.
        self.serial = next(_serials)

    def render(self, context):
        values = [value.resolve(context) for value in self.values]
        return mark_safe(  # noqa: S308 (the body's own rendering, escaped by it)
            fragments.get_or_render(
                self.serial, self.kind, values, lambda: self.nodelist.render(context)
            )
        )


@register.tag
def fragment(parser, token):
    bits = token.split_contents()
    if len(bits) < 3:
        raise template.TemplateSyntaxError(
            "{% fragment %} takes a kind and the values its body is rendered from"
        )
    kind = bits[1].strip("\"'")
    values = [parser.compile_filter(bit) for bit in bits[2:]]
    nodelist = parser.parse(("endfragment",))
    parser.delete_first_token()
    return FragmentNode(kind, values, nodelist)
