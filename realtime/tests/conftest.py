from devtools.testing.daphne import _daphne_process, daphne_server  # noqa: F401
