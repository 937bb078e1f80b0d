"""Scripts the upgrade test (deepiri/tests/test_upgrade.py) runs with one release's code on
sys.path: they use only the public API (through Django's test client) so the same file drives
the previous release and HEAD."""
