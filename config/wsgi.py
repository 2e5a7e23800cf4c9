"""The WSGI application (gunicorn: ``gunicorn config.wsgi``). Production settings unless
``DJANGO_SETTINGS_MODULE`` says otherwise; ``TALLY_PROCESS=web`` gives this process's database
sessions a statement and lock timeout (config/settings/base.py). Storefront API requests take
their own, shorter middleware stack (``config.api.handler``)."""

import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

from config.api.handler import route

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
if not settings.configured:  # a web server importing this first (not a test that loaded settings already)
    os.environ.setdefault("TALLY_PROCESS", "web")
application = route(get_wsgi_application())
