# Built-in plugins: each one folder, one fragment. They use exactly the
# interface third-party plugins use (the SDK), nothing from core/.
include plugins/source-generate/local.mk
include plugins/source-xdr/local.mk
include plugins/codec-json/local.mk
include plugins/codec-flat-json/local.mk
include plugins/codec-msgpack/local.mk
include plugins/codec-avro/local.mk
include plugins/codec-xdr/local.mk
include plugins/sink-file/local.mk
include plugins/sink-http/local.mk
include plugins/sink-null/local.mk
include plugins/sink-elasticsearch/local.mk
include plugins/sink-splunk-hec/local.mk
include plugins/filter-expr/local.mk
include plugins/filter-lut-order/local.mk
include plugins/sink-gcf/local.mk
include plugins/sink-lambda-alb/local.mk
include plugins/sink-sqs/local.mk
include plugins/sink-lambda/local.mk
