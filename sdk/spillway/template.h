/*
 * spillway/template.h (ABI 1.2): text with ${var} placeholders filled from
 * an event's metadata, for URLs, header values, index names and envelope
 * fields that depend on the record (a function per set, an index per
 * namespace, an idempotency key per record).
 *
 * Compile a template once (in create or check), render it per record into
 * a reused buffer: rendering walks the compiled parts once and allocates
 * nothing but buffer growth.
 *
 * Variables (an unknown one is an error at compile time):
 *   ${namespace}      the namespace
 *   ${set}            the set name, empty when the record has none
 *   ${digest}         the 20-byte digest as 40 lowercase hex digits
 *   ${digest_base64}  the digest in standard Base64 (the payloads' form)
 *   ${key}            the user key: integer in decimal, double with 17
 *                     significant digits, string as is, blob in standard
 *                     Base64; empty when the key was not shipped
 *   ${msg}            "write" or "delete"
 *   ${gen}            the generation, decimal
 *   ${lut}            the last-update time, Unix milliseconds, decimal
 *   ${id}             an idempotency key: ${digest}-${lut}. XDR resends a
 *                     record with the same digest and LUT after a failure or
 *                     a restart, so a receiver that keeps the ids it has seen
 *                     drops the resends; a newer change has a newer LUT.
 *
 * A "$" not followed by "{" is literal text; "${" without a closing "}" is
 * an error.
 */
#ifndef SPILLWAY_TEMPLATE_H
#define SPILLWAY_TEMPLATE_H

#include <stdbool.h>
#include <spillway/buf.h>
#include <spillway/event.h>
#include <spillway/plugin.h>
#include <spillway/result.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct spw_template spw_template;

/* How substituted values are escaped for where the text goes. Literal text
 * of the template is never escaped: the user wrote it for that place. */
typedef enum spw_tpl_escape {
    SPW_TPL_RAW = 0, /* as is (the caller validates or escapes the whole result) */
    SPW_TPL_URL,     /* percent-encode all but RFC 3986 unreserved bytes: a value can
                        never add a path segment, a query parameter or a line */
    SPW_TPL_HEADER,  /* control bytes (and DEL) become spaces: a value can never end
                        a header line */
    SPW_TPL_JSON,    /* escaped for the inside of a JSON string (no quotes added);
                        invalid UTF-8 becomes U+FFFD, so the output is always valid */
} spw_tpl_escape;

/* Compiles src (copied) into *out. Unknown variables and an unterminated
 * "${" are SPW_ERR_CONFIG with a message that quotes the template. */
SPW_API spw_result spw_template_new(const char *src, spw_template **out, spw_err *err);

/* Frees t; NULL is fine. */
SPW_API void spw_template_free(spw_template *t);

/* True when the template has no variable: render it once, or use its source. */
SPW_API bool spw_template_is_constant(const spw_template *t);

/* The text the template was compiled from (borrowed, lives as long as t). */
SPW_API const char *spw_template_source(const spw_template *t);

/* Appends t rendered for ev to out (which is not reset), values escaped
 * per esc. Fails only when out cannot grow (NOMEM, NOSPACE); out may then
 * hold part of the rendering. */
SPW_API spw_result spw_template_render(const spw_template *t, const spw_event *ev,
                                       spw_tpl_escape esc, spw_buf *out);

#ifdef __cplusplus
}
#endif
#endif /* SPILLWAY_TEMPLATE_H */
