"""The WSGI application (gunicorn: ``gunicorn config.wsgi``). Production settings unless
``DJANGO_SETTINGS_MODULE`` says otherwise; ``TALLY_PROCESS=web`` gives this process's database
sessions a statement and lock timeout (config/settings/base.py)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
os.environ.setdefault("TALLY_PROCESS", "web")
application = get_wsgi_application()
