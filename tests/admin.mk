# The admin endpoint (metrics, health) and systemd notification, against
# the real binary and tests/receiver.py (tests/admin.py).
TESTS += tests/admin.py
dist_noinst_SCRIPTS += tests/admin.py
