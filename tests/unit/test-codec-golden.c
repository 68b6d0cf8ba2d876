/*
 * tests/unit/test-codec-golden.c: golden files. Representative records
 * (the reference frames of xdr-wire.md, a durable delete, a record with
 * every particle type, one without set and key, one without bins, a
 * route's view with metadata excluded and bins renamed, and a batch)
 * encoded by every codec of this directory and compared byte for byte
 * with tests/golden/CODEC/CASE.EXT:
 *
 *   json/, flat-json/   the JSON text (a record, then a newline)
 *   msgpack/            a hex dump: offset, 16 bytes, their ASCII
 *   xdr/                the frame in hex, one line per part (as_proto,
 *                       as_msg header, each field, each op), each after a
 *                       comment line saying what it is
 *
 * The files were reviewed by hand once; a change to any codec's output
 * shows up here as a failing comparison and a diff to review.
 *
 * Regenerating (never in CI): SPW_UPDATE_GOLDEN=1 make check
 * TESTS=tests/unit/test-codec-golden, then review `git diff tests/golden`.
 * The test refuses to write when CI is set in the environment.
 */
#include <errno.h>
#include <sys/stat.h>
#include <spillway/spillway.h>

#include "../../plugins/codec-json/encode.h"
#include "../../plugins/codec-flat-json/flat.h"
#include "../../plugins/codec-msgpack/pack.h"
#include "../../plugins/codec-xdr/frame.h"
#include "../tap.h"
#include "test-codec-common.h"

#ifndef CODEC_GOLDEN_DIR
#define CODEC_GOLDEN_DIR "tests/golden"
#endif

#define NOW_S 1750000000 /* the xdr codec's clock for TTLs */

static bool updating;
static unsigned written_files;

/* ---- rendering bytes as golden text ---- */

static void dump_hex(spw_buf *t, const uint8_t *p, size_t n) {
    for (size_t off = 0; off < n; off += 16) {
        size_t k = n - off < 16 ? n - off : 16;
        spw_buf_printf(t, "%08zx ", off);
        for (size_t i = 0; i < 16; i++)
            spw_buf_printf(t, i < k ? " %02x" : "   ", i < k ? p[off + i] : 0);
        spw_buf_printf(t, "  |");
        for (size_t i = 0; i < k; i++)
            spw_buf_printf(t, "%c", p[off + i] >= 0x20 && p[off + i] < 0x7f ? p[off + i] : '.');
        spw_buf_printf(t, "|\n");
    }
}

static void hexs(spw_buf *t, const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        spw_buf_printf(t, "%02x", p[i]);
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static const char *field_name(uint8_t t) {
    switch (t) {
    case 0: return "namespace";
    case 1: return "set";
    case 2: return "key";
    case 4: return "digest";
    case 14: return "LUT";
    default: return "unknown";
    }
}

/* One frame, part by part; false when it does not parse (then dumped flat). */
static bool dump_frame(spw_buf *t, const uint8_t *p, size_t n, size_t *used) {
    if (n < 30 || p[0] != 2 || p[1] != 3)
        return false;
    uint64_t size = 0;
    for (int i = 2; i < 8; i++)
        size = size << 8 | p[i];
    if (size > n - 8 || p[8] != 22)
        return false;
    const uint8_t *m = p + 8, *end = p + 8 + size, *q = m + 22;
    unsigned nf = (unsigned)m[18] << 8 | m[19], no = (unsigned)m[20] << 8 | m[21];
    spw_buf_printf(t, "# as_proto: version 2, type 3 (message), %" PRIu64 " bytes follow\n", size);
    hexs(t, p, 2);
    spw_buf_printf(t, " ");
    hexs(t, p + 2, 6);
    spw_buf_printf(t, "\n# as_msg: header_sz 22, info1 %02x, info2 %02x, info3 %02x, info4 %02x, "
                      "result %u, generation %u, record_ttl %u, transaction_ttl %u, %u fields, %u ops\n",
                   m[1], m[2], m[3], m[4], m[5], be32(m + 6), be32(m + 10), be32(m + 14), nf, no);
    for (int i = 0; i < 6; i++)
        spw_buf_printf(t, "%02x ", m[i]);
    for (int i = 6; i < 18; i += 4) {
        hexs(t, m + i, 4);
        spw_buf_printf(t, " ");
    }
    hexs(t, m + 18, 2);
    spw_buf_printf(t, " ");
    hexs(t, m + 20, 2);
    spw_buf_printf(t, "\n");
    for (unsigned i = 0; i < nf; i++) {
        if (end - q < 5)
            return false;
        uint32_t sz = be32(q);
        if (sz < 1 || sz > (size_t)(end - q) - 4)
            return false;
        spw_buf_printf(t, "# field %s (%u), %u bytes\n", field_name(q[4]), q[4], sz - 1);
        hexs(t, q, 4);
        spw_buf_printf(t, " %02x ", q[4]);
        hexs(t, q + 5, sz - 1);
        spw_buf_printf(t, "\n");
        q += 4 + sz;
    }
    for (unsigned i = 0; i < no; i++) {
        if (end - q < 8)
            return false;
        uint32_t sz = be32(q);
        uint8_t flags = q[6], nl = q[7];
        size_t head = 4 + (size_t)nl + ((flags & 1) ? 8 : 0);
        if (sz < 4 || sz > (size_t)(end - q) - 4 || head > sz)
            return false;
        spw_buf_printf(t, "# op %u, particle type %u (%s), flags %02x, bin \"", q[4], q[5],
                       spw_particle_name(q[5]), flags);
        for (unsigned k = 0; k < nl; k++)
            spw_buf_printf(t, "%c", q[8 + k] >= 0x20 && q[8 + k] < 0x7f ? q[8 + k] : '?');
        spw_buf_printf(t, "\"%s, %zu value bytes\n", (flags & 1) ? " with a bin LUT" : "", sz - head);
        hexs(t, q, 4);
        spw_buf_printf(t, " %02x %02x %02x %02x ", q[4], q[5], q[6], q[7]);
        hexs(t, q + 8, nl);
        if (flags & 1) {
            spw_buf_printf(t, " ");
            hexs(t, q + 8 + nl, 8);
        }
        if (sz > head) {
            spw_buf_printf(t, " ");
            hexs(t, q + 4 + head, sz - head);
        }
        spw_buf_printf(t, "\n");
        q += 4 + sz;
    }
    if (q != end)
        return false;
    *used = 8 + size;
    return true;
}

static void dump_frames(spw_buf *t, const uint8_t *p, size_t n) {
    size_t off = 0;
    while (off < n) {
        size_t used = 0;
        size_t mark = t->len;
        if (!dump_frame(t, p + off, n - off, &used)) {
            t->len = mark;
            spw_buf_printf(t, "# not a frame\n");
            dump_hex(t, p + off, n - off);
            return;
        }
        off += used;
    }
}

/* ---- comparing with the files ---- */

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    spw_buf b = SPW_BUF_INIT;
    char tmp[4096];
    size_t k;
    while ((k = fread(tmp, 1, sizeof tmp, f)) > 0)
        spw_buf_append(&b, tmp, k);
    fclose(f);
    spw_buf_append(&b, "", 1);
    *n = b.len - 1;
    return (char *)b.data;
}

static void check_file(const char *codec, const char *name, const char *ext, const spw_buf *text) {
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/%s", CODEC_GOLDEN_DIR, codec);
    snprintf(path, sizeof path, "%s/%s.%s", dir, name, ext);
    if (updating) {
        mkdir(CODEC_GOLDEN_DIR, 0755);
        mkdir(dir, 0755);
        FILE *f = fopen(path, "wb");
        ok(f && fwrite(text->data, 1, text->len, f) == text->len && fclose(f) == 0, "wrote %s", path);
        written_files++;
        return;
    }
    size_t n = 0;
    char *want = slurp(path, &n);
    if (!want) {
        ok(0, "%s/%s.%s: %s (create it with SPW_UPDATE_GOLDEN=1, then review it)", codec, name, ext,
           strerror(errno));
        return;
    }
    bool same = n == text->len && memcmp(want, text->data, n) == 0;
    ok(same, "%s/%s.%s is byte for byte what the codec writes", codec, name, ext);
    if (!same) {
        size_t i = 0;
        while (i < n && i < text->len && want[i] == (char)text->data[i])
            i++;
        diag("first difference at byte %zu; the codec now writes:", i);
        printf("%.*s", (int)(text->len > 4000 ? 4000 : text->len), (const char *)text->data);
    }
    free(want);
}

/* ---- the cases ---- */

typedef struct codecs {
    jcodec json;
    fcodec flat;
    fcodec_config flat_cfg;
    mcodec mp;
    xcodec xdr;
} codecs;

static void init_codecs(codecs *c, bool bin_luts) {
    jcodec_config j = {JCODEC_BATCH_NDJSON, false, bin_luts, true, JCODEC_UTF8_REPLACE,
                       JCODEC_NONFINITE_STRING, NULL};
    if (jcodec_init(&c->json, &j) != SPW_OK)
        abort();
    c->flat_cfg = (fcodec_config){j, "metadata", FCODEC_COLLISION_RENAME};
    if (fcodec_init(&c->flat, &c->flat_cfg) != SPW_OK)
        abort();
    c->mp = (mcodec){{bin_luts, false, MCODEC_UTF8_REPLACE, false}, NULL};
    c->xdr.cfg = (xcodec_config){XCODEC_PASS_AUTO, true};
    c->xdr.fixed_now_s = NOW_S;
}

static void fini_codecs(codecs *c) {
    jcodec_fini(&c->json);
    fcodec_fini(&c->flat);
}

/* Encodes ev with every codec (or only xdr) and checks the four files. */
static void golden(codecs *c, const char *name, const spw_event *ev, bool xdr_only) {
    spw_buf out = SPW_BUF_INIT, text = SPW_BUF_INIT;
    spw_err err = {{0}};
    if (!xdr_only) {
        ok(jcodec_encode(&c->json, ev, &out, &err) == SPW_OK, "%s: json encodes %s", name, err.msg);
        spw_buf_append(&text, out.data, out.len);
        spw_buf_append(&text, "\n", 1);
        check_file("json", name, "json", &text);
        spw_buf_reset(&out);
        spw_buf_reset(&text);
        ok(fcodec_encode(&c->flat, ev, &out, &err) == SPW_OK, "%s: flat-json encodes %s", name, err.msg);
        spw_buf_append(&text, out.data, out.len);
        spw_buf_append(&text, "\n", 1);
        check_file("flat-json", name, "json", &text);
        spw_buf_reset(&out);
        spw_buf_reset(&text);
        ok(mcodec_encode(&c->mp, ev, &out, &err) == SPW_OK, "%s: msgpack encodes %s", name, err.msg);
        dump_hex(&text, out.data, out.len);
        check_file("msgpack", name, "hex", &text);
        spw_buf_reset(&out);
        spw_buf_reset(&text);
    }
    ok(xcodec_encode(&c->xdr, ev, &out, &err) == SPW_OK, "%s: xdr encodes %s", name, err.msg);
    dump_frames(&text, out.data, out.len);
    check_file("xdr", name, "hex", &text);
    spw_buf_free(&out);
    spw_buf_free(&text);
}

/* A batch of the reference write and delete, framed by each codec. */
static void golden_batch(codecs *c) {
    spw_event *evs[2] = {ref_write(true), ref_delete(false, true)};
    spw_buf recs = SPW_BUF_INIT, body = SPW_BUF_INIT, text = SPW_BUF_INIT;
    spw_err err;
    spw_slice s[2];
    size_t off[3];

#define ENCODE_ALL(fn, codec)                                              \
    do {                                                                   \
        spw_buf_reset(&recs);                                              \
        for (int i = 0; i < 2; i++) {                                      \
            off[i] = recs.len;                                             \
            if (fn(codec, evs[i], &recs, &err) != SPW_OK)                  \
                abort();                                                   \
        }                                                                  \
        off[2] = recs.len;                                                 \
        for (int i = 0; i < 2; i++)                                        \
            s[i] = (spw_slice){recs.data + off[i], off[i + 1] - off[i]};   \
    } while (0)

    ENCODE_ALL(jcodec_encode, &c->json);
    ok(jcodec_frame(&c->json, s, 2, &body, &err) == SPW_OK, "json frames the batch (ndjson)");
    check_file("json", "batch", "ndjson", &body);
    spw_buf_reset(&body);
    ENCODE_ALL(fcodec_encode, &c->flat);
    jcodec cj = c->flat.j;
    cj.cfg.batch_format = JCODEC_BATCH_ARRAY;
    ok(jcodec_frame(&cj, s, 2, &body, &err) == SPW_OK, "flat-json frames the batch (array)");
    spw_buf_append(&body, "\n", 1);
    check_file("flat-json", "batch-array", "json", &body);
    spw_buf_reset(&body);
    ENCODE_ALL(mcodec_encode, &c->mp);
    ok(mcodec_frame(&c->mp, s, 2, &body, &err) == SPW_OK, "msgpack frames the batch");
    dump_hex(&text, body.data, body.len);
    check_file("msgpack", "batch", "hex", &text);
    spw_buf_reset(&text);
    ENCODE_ALL(xcodec_encode, &c->xdr);
    dump_frames(&text, recs.data, recs.len); /* no frame callback: the frames back to back */
    check_file("xdr", "batch", "hex", &text);
#undef ENCODE_ALL
    for (int i = 0; i < 2; i++)
        spw_event_unref(evs[i]);
    spw_buf_free(&recs);
    spw_buf_free(&body);
    spw_buf_free(&text);
}

int main(void) {
    const char *u = getenv("SPW_UPDATE_GOLDEN");
    updating = u && *u && strcmp(u, "0") != 0;
    if (updating && getenv("CI")) {
        ok(0, "SPW_UPDATE_GOLDEN is set in CI: golden files are regenerated by hand, never in CI");
        return tap_done();
    }
    codecs c;
    init_codecs(&c, false);
    spw_event *ev;

    ev = ref_write(true);
    golden(&c, "ref-write", ev, false);
    spw_event_unref(ev);
    ev = ref_write(false);
    golden(&c, "ref-write-encoded", ev, true); /* no frame: encoded from the event */
    spw_event_unref(ev);
    ev = ref_delete(false, true);
    golden(&c, "ref-delete", ev, false);
    spw_event_unref(ev);
    ev = ref_delete(true, false);
    golden(&c, "durable-delete", ev, false);
    spw_event_unref(ev);
    ev = all_types_event();
    golden(&c, "all-types", ev, false);
    spw_event_unref(ev);
    ev = no_set_no_key_event();
    golden(&c, "no-set-no-key", ev, false);
    spw_event_unref(ev);
    ev = empty_bins_event();
    golden(&c, "empty-bins", ev, false);
    spw_event_unref(ev);

    /* A route that excludes gen and lut, renames "name" and drops "age". */
    xform_view xv;
    ev = ref_write(true);
    golden(&c, "route-view", xform(&xv, ev, "gen,lut", "name:who", "age"), false);
    xform_done(&xv);
    spw_event_unref(ev);
    golden_batch(&c);
    fini_codecs(&c);

    init_codecs(&c, true);
    ev = all_types_event();
    golden(&c, "all-types-bin-luts", ev, false);
    spw_event_unref(ev);
    fini_codecs(&c);

    if (updating)
        diag("wrote %u golden files under %s: review them (git diff) before committing",
             written_files, CODEC_GOLDEN_DIR);
    return tap_done();
}
