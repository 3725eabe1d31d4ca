"""Markdown in what operators write (update messages, the page's about text),
rendered to a small safe subset of HTML for the pages, feeds and mails.

markdown-it-py parses CommonMark with raw HTML off (``<script>`` stays text)
and links bare URLs (linkify-it-py); nh3 then keeps only the tags and
attributes below, only http, https and mailto links, and gives every link
``rel="nofollow noopener"``. Images are not part of the subset: one becomes a
link to the image, named by its alt text, so nothing third-party is loaded
into a page or a mail.

Both libraries run in time linear in the text, but markdown-it's constant is
large for runs of link brackets (64 KiB of ``[`` takes about a second), so a
text longer than ``LIMIT`` characters is shown as written — escaped, its line
breaks kept — rather than parsed: every message renders in well under a
second, whatever it holds.

What is stored and what the API returns is the text as written; rendering
happens where HTML is shown, once per text per process (``render`` keeps its
recent results keyed by a hash of the text).
"""

import hashlib
import threading
from collections import OrderedDict

import nh3
from django.utils.html import escape, linebreaks
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml

ALLOWED_TAGS = {
    "p", "br", "a", "em", "strong", "code", "pre", "ul", "ol", "li", "blockquote", "s", "hr",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href"}, "ol": {"start"}}
ALLOWED_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "nofollow noopener"

# How many rendered texts each process keeps (a page shows a few hundred).
KEPT = 2048
# Longer texts are shown as plain text (see above); a status update is a few
# hundred characters, a long post-mortem a few thousand.
LIMIT = 16_384


def _image_as_link(self, tokens, idx, options, env):
    token = tokens[idx]
    alt = self.renderInlineAsText(token.children or [], options, env) or "image"
    return f'<a href="{escapeHtml(token.attrGet("src") or "")}">{escapeHtml(alt)}</a>'


def _parser():
    parser = MarkdownIt("commonmark", {"html": False, "linkify": True, "breaks": True})
    parser.enable(["linkify", "strikethrough"])
    # Images would load third-party content into the page (and mails).
    parser.add_render_rule("image", _image_as_link)
    # Headings inside an update would outrank the page's own; shown as text.
    parser.disable("heading")
    parser.disable("lheading")
    return parser


_PARSER = _parser()
_kept: OrderedDict[bytes, SafeString] = OrderedDict()
_lock = threading.Lock()


def _keep_attribute(tag, attribute, value):
    """Links go to absolute http(s) or mailto addresses, or to a path on this
    page (``/incidents/…``); anything else nh3 let through as "relative"
    (``jav%09ascript:…``) loses its href."""
    if attribute != "href":
        return value
    if value.lower().startswith(("https://", "http://", "mailto:")):
        return value
    if value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return None


def _render(text):
    if len(text) > LIMIT:
        return linebreaks(escape(text))
    html = _PARSER.render(text)
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_SCHEMES,
        link_rel=LINK_REL,
        attribute_filter=_keep_attribute,
        strip_comments=True,
    ).strip()


def render(text):
    """Safe HTML for Markdown ``text`` ("" for none)."""
    if not text:
        return mark_safe("")  # noqa: S308 - empty
    key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    with _lock:
        html = _kept.get(key)
        if html is not None:
            _kept.move_to_end(key)
            return html
    html = mark_safe(_render(text))  # noqa: S308 - sanitised by nh3 just now
    with _lock:
        _kept[key] = html
        while len(_kept) > KEPT:
            _kept.popitem(last=False)
    return html
