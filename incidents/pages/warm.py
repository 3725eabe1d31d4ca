"""A worker starts warm: it renders the status page once for itself.

After a start (a deploy, a restart, a worker replaced) a process keeps none
of the pieces the status page is assembled from (incidents/pages/fragments.py)
and none of the systems section's data (incidents/pages/views.py): the first
page it renders renders every monitor's row and its 90 days of bars' words,
about 150 ms of CPU where a re-render after an incident's update takes 25.
Whoever asks for the page waits that long — during a refresh storm, every
visitor, while each worker in turn does it once. So each worker renders the
page once as it starts, in a thread of its own beside the first requests, in
the page's default language, and keeps what it rendered; it stores nothing
(the stored page stays the one the requests render). A database that does not
answer only leaves the worker cold.
"""

import logging
import threading

from django.db import connections
from django.utils import timezone, translation

logger = logging.getLogger(__name__)


def warm():
    """Render ``/`` in this process as a request would (the tokens read
    before the data), keeping its pieces, storing nothing."""
    from incidents.appearance.page import page_context
    from incidents.cache.store import read_with
    from incidents.languages import default_language
    from incidents.pages.views import render_page, status_context

    read_with([])
    page_context()  # this process's copy of the settings: the default language
    with translation.override(default_language()):
        context, _valid_until = status_context(timezone.now())
        render_page("incidents/status-page.html", context)


def warm_in_background():
    """``warm()`` in a thread of its own (gunicorn.conf.py, as a worker starts)."""

    def run():
        try:
            warm()
        except Exception as error:
            logger.info(
                "the status page was not rendered ahead (%r): the first request will", error
            )
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, name="warm-up", daemon=True)
    thread.start()
    return thread
