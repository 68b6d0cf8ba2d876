# Reloading a running pipeline (SIGHUP, POST /reload, spillway reload)
# under load from spillway-xdrgen, against the real binary and
# tests/receiver.py (tests/reload.py).
TESTS += tests/reload.py
dist_noinst_SCRIPTS += tests/reload.py
