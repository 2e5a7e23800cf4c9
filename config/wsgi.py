"""The WSGI application (gunicorn: ``gunicorn config.wsgi``). Production settings unless
``DJANGO_SETTINGS_MODULE`` says otherwise; ``TALLY_PROCESS=web`` gives this process's database
sessions a statement and lock timeout (config/settings/base.py)."""

import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
if not settings.configured:  # a web server importing this first (not a test that loaded settings already)
    os.environ.setdefault("TALLY_PROCESS", "web")
application = get_wsgi_application()
