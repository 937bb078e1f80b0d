"""
WSGI config for deepiri project.

It exposes the WSGI callable as a module-level variable named ``application``.

For more information on this file, see
https://docs.djangoproject.com/en/5.2/howto/deployment/wsgi/
"""

import os

from django.core.wsgi import get_wsgi_application

from kernel import config, runtime, tracing

os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'deepiri.settings')
config.check_or_exit("web")  # one line and exit 78 on a configuration that cannot work
tracing.setup("web")  # before the middleware is loaded: it adds its own (a no-op when not configured)

application = get_wsgi_application()
runtime.settle()  # what is loaded now lives as long as the process: keep it out of collections
