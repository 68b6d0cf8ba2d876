/*
 * tests/plugins/sink-badsize.c: a descriptor built from a different
 * layout, only 120 bytes long and saying so. The loader must refuse it on
 * struct_size alone: under AddressSanitizer, reading any field past those
 * 120 bytes is reported as a global-buffer-overflow.
 */
#include <stdint.h>
#include <spillway/abi.h>

struct short_descriptor {
    uint16_t abi_major;
    uint16_t abi_minor;
    uint32_t struct_size;
    unsigned char rest[112];
};

SPW_API extern const struct short_descriptor spw_plugin_descriptor;
const struct short_descriptor spw_plugin_descriptor = {
    .abi_major = SPW_ABI_MAJOR,
    .abi_minor = SPW_ABI_MINOR,
    .struct_size = sizeof(struct short_descriptor),
};

_Static_assert(sizeof(struct short_descriptor) == 120, "the test expects a 120-byte descriptor");
