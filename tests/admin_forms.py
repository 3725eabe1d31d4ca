"""Admin forms as a browser sends them: the fields a page's HTML holds
(never ``hidden_fields()`` from a response context), changed as typed."""

from html.parser import HTMLParser

from django.contrib.admin.utils import quote
from django.urls import reverse


class FormReader(HTMLParser):
    """What a browser submits from a page's form, untouched: every named
    input, textarea and select the HTML holds, with its current value."""

    def __init__(self, form_id):
        super().__init__(convert_charrefs=True)
        self.form_id, self.inside, self.data = form_id, False, {}
        self.textarea = self.select = None

    def add(self, name, value):
        self.data.setdefault(name, []).append(value)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.inside = attrs.get("id") == self.form_id
        if not self.inside or "name" not in attrs or "disabled" in attrs:
            if tag == "option" and self.select is not None and "selected" in attrs:
                self.add(self.select, attrs.get("value", ""))
            return
        kind = attrs.get("type", "text")
        if tag == "input" and kind not in ("submit", "button", "file", "image", "reset"):
            if kind not in ("checkbox", "radio") or "checked" in attrs:
                self.add(attrs["name"], attrs.get("value", "on" if kind == "checkbox" else ""))
        elif tag == "textarea":
            self.textarea = attrs["name"]
            self.add(self.textarea, "")
        elif tag == "select":
            self.select = attrs["name"]
            self.data.setdefault(self.select, [])

    def handle_data(self, data):
        if self.textarea is not None:
            self.data[self.textarea][-1] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "textarea" and self.textarea is not None:
            # A browser drops the one newline right after <textarea>.
            self.data[self.textarea][-1] = self.data[self.textarea][-1].removeprefix("\n")
            self.textarea = None
        elif tag == "select":
            self.select = None


def page_form(response, form_id):
    """The form data of ``form_id`` in the page, as a browser would send it."""
    reader = FormReader(form_id)
    reader.feed(response.content.decode())
    assert reader.data, f"no form #{form_id} on the page"
    return reader.data


def submit(client, url, form_id, **fields):
    """Open ``url``, change ``fields`` in its form and submit it."""
    page = client.get(url)
    assert page.status_code == 200
    data = page_form(page, form_id)
    for name, value in fields.items():
        data[name] = value if isinstance(value, list) else [value]
    return client.post(url, data)


def change_incident(client, incident, **fields):
    url = reverse("admin:incidents_incident_change", args=[quote(incident.pk)])
    return submit(client, url, "incident_form", **fields)


def add_incident(client, **fields):
    return submit(client, reverse("admin:incidents_incident_add"), "incident_form", **fields)
