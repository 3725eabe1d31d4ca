"""Markdown in update messages: what it renders to, and that hostile text
renders inert — on the page, in the feeds (parsed with feedparser) and in the
mails (a real SMTP sink) — while the API and the Statuspage JSON keep the text
as written."""

import html
import re
import time
from html.parser import HTMLParser

import feedparser
import pytest

from incidents.markdown import LIMIT, render
from incidents.models import Incident
from incidents.subscribers.models import Subscriber
from tests.smtp_sink import running_sink

HOSTILE = {
    "script tag": "<script>alert(1)</script>",
    "script in a paragraph": "Fixed <script src=https://evil.test/x.js></script> now",
    "event handler": '<img src=x onerror="alert(1)">',
    "style tag": "<style>body{display:none}</style>",
    "iframe": '<iframe src="https://evil.test/"></iframe>',
    "javascript link": "[click me](javascript:alert(1))",
    "javascript link, upper case": "[click me](JAVASCRIPT:alert(1))",
    "javascript link, entity-encoded": "[click me](jav&#x61;script:alert(1))",
    "javascript link, tab inside": "[click me](jav&#x09;ascript:alert(1))",
    "javascript autolink": "<javascript:alert(1)>",
    "data link": "[click me](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "vbscript link": "[click me](vbscript:msgbox(1))",
    "reference-style javascript link": "[click me][x]\n\n[x]: javascript:alert(1)",
    "image": "![tracking pixel](https://evil.test/pixel.png)",
    "data image": "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "HTML entities": "&lt;script&gt;alert(1)&lt;/script&gt; &#60;b&#62; &amp;",
    "raw HTML link": '<a href="javascript:alert(1)">x</a>',
    "HTML comment": "<!-- <script>alert(1)</script> -->",
    "nested emphasis bomb": "*a **a " * 2000,
    "emphasis delimiters": "*" * 20000,
    "open brackets": "[" * 16000,
    "64 KiB of [": "[" * 65536,
    "nested links": "[a](" * 4000,
    "nested lists": "- " * 5000 + "x",
    "nested quotes": "> " * 5000 + "x",
    "backticks": "`" * 20000,
    "angle brackets": "<" * 30000,
    "entity soup": "&#" * 20000,
}


class Tags(HTMLParser):
    """Every start tag and attribute in a piece of HTML."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.tags = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


SAFE_TAGS = {
    "p",
    "br",
    "a",
    "em",
    "strong",
    "code",
    "pre",
    "ul",
    "ol",
    "li",
    "blockquote",
    "s",
    "hr",
}


def assert_inert(fragment):
    for tag, attrs in Tags(fragment).tags:
        assert tag in SAFE_TAGS, tag
        for name, value in attrs.items():
            assert name in ("href", "rel", "start"), name
            if name == "href":
                assert re.match(r"^(https?://|mailto:|/[^/\\])", value, re.I), value


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_text_renders_inert_and_in_time(text):
    # This process's CPU time, not the wall clock: other processes on a
    # loaded machine do not count against the bound.
    started = time.process_time()
    out = str(render(text))
    assert time.process_time() - started < 1.0
    assert_inert(out)
    assert "<script" not in out.lower() and "<img" not in out.lower()


def test_script_and_html_are_shown_as_the_text_they_are():
    assert (
        str(render("<script>alert(1)</script>")) == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
    )
    # An entity typed stays the character it stands for, never markup.
    assert str(render("&lt;b&gt;")) == "<p>&lt;b&gt;</p>"


def test_links_emphasis_code_and_lists():
    out = str(
        render("See *this* and **that**, `x < y`:\n\n- [status](https://example.com/s)\n- two")
    )
    assert "<em>this</em>" in out and "<strong>that</strong>" in out
    assert "<code>x &lt; y</code>" in out
    assert '<li><a href="https://example.com/s" rel="nofollow noopener">status</a></li>' in out


def test_bare_urls_become_links():
    out = str(render("Post-mortem: https://example.com/pm/42 (and www.example.org)"))
    assert '<a href="https://example.com/pm/42" rel="nofollow noopener">' in out
    assert '<a href="http://www.example.org" rel="nofollow noopener">' in out


def test_an_image_is_a_link_not_an_image():
    out = str(render("![the graph](https://example.com/graph.png)"))
    assert (
        out
        == '<p><a href="https://example.com/graph.png" rel="nofollow noopener">the graph</a></p>'
    )


def test_a_text_over_the_limit_is_shown_as_written():
    text = "*" + "x" * LIMIT + "*\n\n<b>"
    out = str(render(text))
    assert "<em>" not in out and "&lt;b&gt;" in out


# --- where messages are shown ------------------------------------------------

MESSAGE = (
    "Rolling back. See https://example.com/pm and [the *runbook*](https://example.com/rb)."
    "\n\n<script>alert('x')</script> [bad](javascript:alert(1)) ![p](https://evil.test/p.png)"
)
RENDERED_LINK = '<a href="https://example.com/rb" rel="nofollow noopener">the <em>runbook</em></a>'


@pytest.fixture
def incident(db, fresh_cache):
    return Incident.open_incident(title="Payments failing", message=MESSAGE)


def check_fragment(fragment):
    assert RENDERED_LINK in fragment
    assert '<a href="https://example.com/pm" rel="nofollow noopener">' in fragment
    assert "&lt;script&gt;" in fragment and "<script>alert" not in fragment
    assert 'href="javascript' not in fragment and "<img" not in fragment


@pytest.mark.parametrize("where", ["status page", "permalink"])
def test_the_pages_show_messages_as_safe_markdown(client, incident, where):
    path = "/" if where == "status page" else f"/incidents/{incident.id}/"
    check_fragment(client.get(path).content.decode())


def test_recent_history_on_the_status_page_shows_messages_as_safe_markdown(client, incident):
    # /history/ lists titles only; the status page's recent history shows the
    # latest message of each.
    incident.post_update("resolved", "Fixed: **all** good, see https://example.com/fixed.")
    page = client.get("/").content.decode()
    recent = page.split('id="recent', 1)[1] if 'id="recent' in page else page
    assert "<strong>all</strong>" in recent
    assert '<a href="https://example.com/fixed" rel="nofollow noopener">' in recent


@pytest.mark.parametrize("path", ["/feed.rss", "/feed.atom"])
def test_the_feeds_carry_the_rendered_html_escaped(client, incident, path):
    raw = client.get(path).content.decode()
    # Escaped inside the XML: no live markup in the feed document itself.
    assert "<script" not in raw and "<a href" not in raw
    feed = feedparser.parse(raw)
    assert not feed.bozo
    (entry,) = feed.entries
    content = entry.get("content", [{}])[0].get("value") or entry.summary
    # feedparser sanitises too; the raw field is what a reader receives.
    item = raw.split("<item>")[-1].split("<entry>")[-1]
    described = html.unescape(re.search(r"<(?:description|summary[^>]*)>(.*?)</", item, re.S)[1])
    check_fragment(described)
    assert "runbook" in content


def test_the_api_and_the_statuspage_json_keep_the_text_as_written(api, client, incident):
    body = api("GET", f"/api/incidents/{incident.id}").json()
    assert body["updates"][0]["message"] == MESSAGE
    document = client.get("/api/v2/incidents.json").json()
    assert document["incidents"][0]["incident_updates"][0]["body"] == MESSAGE


@pytest.mark.parametrize("text", list(HOSTILE.values())[:18], ids=list(HOSTILE)[:18])
def test_hostile_text_is_inert_on_the_page_and_in_the_feed(client, db, fresh_cache, text):
    incident = Incident.open_incident(title="Hostile", message=text)
    page = client.get(f"/incidents/{incident.id}/").content.decode()
    main = page.split('<main id="main"', 1)[1].split("</main>", 1)[0].split(">", 1)[1]
    # The page's own markup is time elements and links to the page itself.
    for tag, attrs in Tags(main).tags:
        if tag == "a" and "rel" in attrs and "href" in attrs:  # from a message
            assert re.match(r"^https?:", attrs["href"], re.I), attrs
        assert tag not in ("script", "img", "iframe", "style")
        assert not any(name.startswith("on") for name in attrs)
    for feed_path in ("/feed.rss", "/feed.atom"):
        raw = client.get(feed_path).content.decode()
        assert "<script" not in raw and "<img" not in raw
        feed = feedparser.parse(raw)
        assert not feed.bozo, feed.bozo_exception
        described = re.search(
            r"<(?:description|summary[^>]*)>(.*?)</",
            raw.split("<item>")[-1].split("<entry>")[-1],
            re.S,
        )
        assert_inert(html.unescape(described[1]).split("</p>", 1)[1])


def test_hostile_text_is_inert_in_the_mails(settings, db, fresh_cache):
    from incidents.subscribers import fanout

    with running_sink() as sink:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.KAMUSTATUS_PAGE_URL = "http://testserver"
        Subscriber.objects.add_email("ops@example.com", skip_confirmation=True)
        texts = [MESSAGE, *list(HOSTILE.values())[:18]]
        incident = Incident.open_incident(title="Hostile", message=texts[0])
        for text in texts[1:]:
            incident.post_update("investigating", text)
        while fanout.run("test-worker", budget_seconds=30):
            pass
        assert sink.wait_for(len(texts))
        messages = list(sink.messages)
    by_text = {}
    for message in messages:
        plain = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
        by_text[plain] = message.get_body(("html",)).get_content()
    first = next(h for p, h in by_text.items() if "Rolling back" in p)
    check_fragment(first)
    for text in texts:
        (plain, html_part) = next((p, h) for p, h in by_text.items() if text.strip() in p)
        body = html_part.split("<body", 1)[1]
        for tag, attrs in Tags(body).tags:
            assert tag not in ("script", "img", "iframe", "style", "object")
            assert not any(name.startswith("on") for name in attrs)
            if tag == "a" and "href" in attrs:
                assert re.match(r"^(https?:|mailto:)", attrs["href"], re.I), attrs
