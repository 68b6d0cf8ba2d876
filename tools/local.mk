# Programs users run besides the daemon.
include tools/xdrgen/local.mk
