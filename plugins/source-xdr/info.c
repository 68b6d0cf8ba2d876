/*
 * plugins/source-xdr/info.c: answers to INFO (type-1) requests. XDR is not
 * known to send them to connectors, but tools that probe an Aerospike
 * port do, and answering costs little: "node", "build", "version" and
 * "status" (always "ok") are known; other names are left out of the
 * answer, as older servers do; a request naming nothing gets all four, as
 * a server answers a bare INFO with its defaults. A request line may be
 * "name" or "name\tvalue"; only the name counts here.
 */
#include <string.h>

#include "wire.h"

static const char *const known[] = {"node", "build", "version", "status"};
#define N_KNOWN (sizeof known / sizeof known[0])

static const char *value_of(size_t i, const asw_info_ids *ids) {
    switch (i) {
    case 0: return ids->node;
    case 1: return ids->build;
    case 2: return ids->version;
    default: return "ok";
    }
}

static spw_result put_line(spw_buf *out, size_t i, const asw_info_ids *ids) {
    const char *v = value_of(i, ids);
    spw_result r = spw_buf_append(out, known[i], strlen(known[i]));
    if (r == SPW_OK)
        r = spw_buf_append(out, "\t", 1);
    if (r == SPW_OK && v)
        r = spw_buf_append(out, v, strlen(v));
    if (r == SPW_OK)
        r = spw_buf_append(out, "\n", 1);
    return r;
}

spw_result asw_info_answer(const uint8_t *frame, size_t len, const asw_info_ids *ids,
                           spw_buf *out) {
    static const uint8_t header[ASW_PROTO_HDR] = {ASW_PROTO_VERSION, ASW_TYPE_INFO};
    const uint8_t *p = frame + ASW_PROTO_HDR;
    const uint8_t *end = frame + (len > ASW_PROTO_HDR ? len : ASW_PROTO_HDR);
    size_t start = out->len;
    bool named = false;
    spw_result r = spw_buf_append(out, header, sizeof header);

    while (r == SPW_OK && p < end) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        const uint8_t *line_end = nl ? nl : end;
        const uint8_t *tab = memchr(p, '\t', (size_t)(line_end - p));
        size_t n = (size_t)((tab ? tab : line_end) - p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (n > 0) {
            named = true;
            for (size_t i = 0; i < N_KNOWN; i++)
                if (strlen(known[i]) == n && memcmp(known[i], p, n) == 0) {
                    r = put_line(out, i, ids);
                    break;
                }
        }
        p = nl ? nl + 1 : end;
    }
    for (size_t i = 0; r == SPW_OK && !named && i < N_KNOWN; i++)
        r = put_line(out, i, ids);
    if (r != SPW_OK) {
        out->len = start;
        return r;
    }
    /* The size is only known now: patch the header's 48-bit size in place. */
    uint64_t size = out->len - start - ASW_PROTO_HDR;
    uint8_t *h = out->data + start;
    for (int i = 7; i >= 2; i--, size >>= 8)
        h[i] = (uint8_t)size;
    return SPW_OK;
}
