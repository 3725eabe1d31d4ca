"""The WSGI application gunicorn serves: Django's, with the unchanged status
page answered in front of it (incidents/cache/fast.py)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "statuspage.settings")

django_application = get_wsgi_application()

from incidents.cache.fast import FastPath  # noqa: E402 (needs the apps loaded)

application = FastPath(django_application)
