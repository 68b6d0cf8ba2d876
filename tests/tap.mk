# Taps: the admin endpoint's GET /tap and `spillway tap`, against the real
# binary and tests/receiver.py (tests/tap.py).
TESTS += tests/tap.py
dist_noinst_SCRIPTS += tests/tap.py
