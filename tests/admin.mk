# The admin endpoint (metrics, health) and systemd notification, against
# the real binary and tests/receiver.py (tests/admin.py).
TESTS += tests/admin.py
dist_noinst_SCRIPTS += tests/admin.py
# A SIGTERM that arrives while spillway is still loading is a clean stop.
TESTS += tests/signal-early.py
dist_noinst_SCRIPTS += tests/signal-early.py
