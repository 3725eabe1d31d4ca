"""The WSGI application gunicorn serves: Django's, with the unchanged status
page (incidents/cache/fast.py) and the API's unchanged keyed GETs
(incidents/api/fast.py) answered in front of it."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "statuspage.settings")

django_application = get_wsgi_application()

from incidents.api.fast import ApiFastPath  # noqa: E402 (needs the apps loaded)
from incidents.cache.fast import FastPath  # noqa: E402

application = FastPath(ApiFastPath(django_application))
