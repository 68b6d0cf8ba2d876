#!/usr/bin/python3
"""tests/splunk-hec-more.py: the second half of the splunk-hec sink's
end-to-end scenarios (tests/splunk-hec.py has them all and runs the first
half): a token refused then accepted, a token without ack, ack = false,
idle channel expiry, SIGKILL with acks pending, and two indexers behind a
balancer with and without cookie stickiness. TAP."""

import importlib.util
import os

_spec = importlib.util.spec_from_file_location(
    "splunk_hec_tests", os.path.join(os.path.dirname(os.path.abspath(__file__)), "splunk-hec.py"))
T = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(T)
T.main(T.MORE)
