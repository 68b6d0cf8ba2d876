/*
 * spillway/result.h: the one result type used across the SDK, and the
 * error text buffer that goes with it.
 *
 * Ownership vocabulary used in every SDK header:
 *   borrowed        the callee only looks at it during the call (or, for a
 *                   returned pointer, the caller may use it only as long as
 *                   the object it came from lives) and never frees it.
 *   owned by caller the caller must release it with the named function.
 *   transferred     responsibility passes to the callee, on success and on
 *                   failure alike; the caller must not touch it afterwards.
 */
#ifndef SPILLWAY_RESULT_H
#define SPILLWAY_RESULT_H

#include <stddef.h>
#include <spillway/abi.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * 0 is success, negative values are errors of a call, positive values are
 * the outcomes a stage reports about an event.
 */
typedef enum spw_result {
    SPW_OK = 0,          /* success; as an event outcome: delivered */

    /* Event outcomes (sinks, codecs, filters report these). */
    SPW_RETRY = 1,       /* transient failure: deliver again later */
    SPW_REJECT = 2,      /* permanent: this destination will never accept it */
    SPW_SKIP = 3,        /* filter: the event is not for this route */
    SPW_TOO_LARGE = 4,   /* sink (ABI 1.1): the destination refused the body for its size
                            (HTTP 413, a 1 MB cap): the core splits the batch, and rejects a
                            record only when it was refused alone */

    /* Errors of a call. */
    SPW_ERR_NOMEM = -1,   /* allocation failed */
    SPW_ERR_INVAL = -2,   /* invalid argument or malformed input */
    SPW_ERR_CONFIG = -3,  /* invalid configuration */
    SPW_ERR_IO = -4,      /* operating-system I/O failure */
    SPW_ERR_NOSPACE = -5, /* a fixed-size area is full */
    SPW_ERR_RANGE = -6,   /* value outside its bounds */
    SPW_ERR_ABI = -7,     /* plugin built for an incompatible ABI */
    SPW_ERR_NOTFOUND = -8,/* no such plugin, option, section or item */
    SPW_ERR_STATE = -9,   /* call not valid in the object's current state */
    SPW_ERR_UNSUPPORTED = -10, /* feature or type not supported */
} spw_result;

/* A short constant description of a result ("ok", "retry", "no memory"...). */
SPW_API const char *spw_result_str(spw_result r);

/* Error text filled by a failing call: one sentence, no trailing newline. */
#define SPW_ERR_MSG_MAX 512
typedef struct spw_err {
    char msg[SPW_ERR_MSG_MAX];
} spw_err;

/*
 * Formats the message into *err (err may be NULL) and returns r, so that a
 * failing path reads `return spw_err_set(err, SPW_ERR_CONFIG, "...", ...);`.
 */
SPW_API spw_result spw_err_set(spw_err *err, spw_result r, const char *fmt, ...)
    SPW_PRINTF(3, 4);

/*
 * Writes bytes from the wire (a bin name, a response body) into out as text
 * safe for a log line or a reason: printable ASCII kept, every other byte
 * '?', at most `max` input bytes, then "..." when p was longer. out_size
 * must be at least max + 4. Returns out.
 */
SPW_API char *spw_printable(char *out, size_t out_size, const void *p, size_t n, size_t max);

#ifdef __cplusplus
}
#endif
#endif /* SPILLWAY_RESULT_H */
