"""One cache path for everything the public faces answer with.

- ``generation``: the content generation, changed by every write to a model
  that says it is ``ShownOnPage``;
- ``store``: stored entries and the one get-or-build loop (a ``Shelf`` per face:
  pages, API, public JSON);
- ``pages``: the pages' shelf and the headers a stored page is sent with;
- ``outage``: the status page's last good copy, served while data is away;
- ``middleware``: the one middleware for ``/`` that puts these together;
- ``redis``: with ``REDIS_URL``, one Redis client and pool per process.

README.md "Development" draws a ``GET /`` through them.
"""
