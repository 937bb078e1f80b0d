"""URLs for benchmarks: the whole API plus plain-Django baseline views.

Each `bench/*_views.py` module may define `urlpatterns`; they are mounted under /bench/.
"""

import importlib
from pathlib import Path

from django.urls import include, path

from deepiri.urls import urlpatterns as api_urlpatterns

urlpatterns = list(api_urlpatterns)
for module_path in sorted(Path(__file__).parent.glob("*_views.py")):
    module = importlib.import_module(f"bench.{module_path.stem}")
    urlpatterns.append(path("bench/", include(module.urlpatterns)))
