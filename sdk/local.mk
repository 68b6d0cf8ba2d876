# The installed plugin SDK.
spillwayinclude_HEADERS = \
	sdk/spillway/abi.h \
	sdk/spillway/buf.h \
	sdk/spillway/event.h \
	sdk/spillway/http.h \
	sdk/spillway/plugin.h \
	sdk/spillway/result.h \
	sdk/spillway/spillway.h \
	sdk/spillway/template.h \
	sdk/spillway/tls.h
