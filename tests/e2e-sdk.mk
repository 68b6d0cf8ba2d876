# The SDK as a third party uses it: install, build examples/sdk-sink out of
# tree with its own Makefile, load it. (examples/ is in EXTRA_DIST whole.)
TESTS += tests/e2e-sdk-install.sh
dist_noinst_SCRIPTS += tests/e2e-sdk-install.sh
