/*
 * tools/xdrgen/stats.c: the report at the end of a run (text, or one JSON
 * object with --json) and the progress lines. The field names are the
 * same in both, so a script can switch between them; doc/xdrgen.md
 * defines each one.
 */
#include "xdrgen.h"

#include <inttypes.h>

static const double quantiles[] = {0.5, 0.9, 0.99, 0.999};
static const char *const qnames[] = {"p50", "p90", "p99", "p99_9"};

static double elapsed_s(const struct xg_stats *s, uint64_t now_ns) {
    uint64_t end = now_ns ? now_ns : s->end_ns;
    return end > s->start_ns ? (double)(end - s->start_ns) / 1e9 : 0.0;
}

/* Microseconds, with one decimal, from nanoseconds. */
static double us(uint64_t ns) { return (double)ns / 1e3; }

void xg_stats_print(const struct xg_stats *s, FILE *f, bool json, bool complete,
                    uint64_t outstanding) {
    double t = elapsed_s(s, 0);
    double rate = t > 0 ? (double)s->acked / t : 0.0;
    double mbps = t > 0 ? (double)s->bytes / t / 1e6 : 0.0;

    if (json) {
        fprintf(f,
                "{\"complete\":%s,\"elapsed_s\":%.3f,\"records\":%" PRIu64 ",\"sent\":%" PRIu64
                ",\"bytes\":%" PRIu64 ",\"compressed\":%" PRIu64 ",\"acknowledged\":%" PRIu64
                ",\"retried\":%" PRIu64 ",\"abandoned\":%" PRIu64 ",\"resent_after_reset\":%" PRIu64
                ",\"outstanding\":%" PRIu64 ",\"acked_per_s\":%.1f,\"mb_per_s\":%.2f"
                ",\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f",
                complete ? "true" : "false", t, s->records, s->sent, s->bytes, s->compressed,
                s->acked, s->retried, s->abandoned, s->reset_resent, outstanding, rate, mbps,
                s->cpu_user_s, s->cpu_sys_s);
        fprintf(f, ",\"latency_us\":{\"count\":%" PRIu64, s->lat.count);
        for (size_t i = 0; i < 4; i++)
            fprintf(f, ",\"%s\":%.1f", qnames[i], us(xg_hist_quantile(&s->lat, quantiles[i])));
        fprintf(f, ",\"max\":%.1f}", us(s->lat.max));
        if (s->gap.count) {
            fprintf(f, ",\"send_gap_us\":{\"count\":%" PRIu64, s->gap.count);
            for (size_t i = 0; i < 4; i++)
                fprintf(f, ",\"%s\":%.1f", qnames[i], us(xg_hist_quantile(&s->gap, quantiles[i])));
            fprintf(f, ",\"min\":%.1f,\"max\":%.1f}", us(s->gap.min), us(s->gap.max));
        }
        fprintf(f,
                ",\"connections\":{\"opened\":%" PRIu64 ",\"connect_failures\":%" PRIu64
                ",\"resets_peer\":%" PRIu64 ",\"resets_timeout\":%" PRIu64
                ",\"resets_malformed\":%" PRIu64 "}",
                s->connects, s->connect_failures, s->resets_peer, s->resets_timeout,
                s->resets_malformed);
        fprintf(f, ",\"result_codes\":{");
        const char *sep = "";
        for (int c = 0; c < 256; c++) {
            if (s->codes[c]) {
                fprintf(f, "%s\"%d\":%" PRIu64, sep, c, s->codes[c]);
                sep = ",";
            }
        }
        fprintf(f, "}}\n");
        fflush(f);
        return;
    }

    fprintf(f, "%s after %.3f s\n", complete ? "complete" : "INCOMPLETE", t);
    fprintf(f, "  records             %" PRIu64 "\n", s->records);
    fprintf(f, "  sent                %" PRIu64 " frames, %" PRIu64 " bytes (%.2f MB/s)",
            s->sent, s->bytes, mbps);
    if (s->compressed)
        fprintf(f, ", %" PRIu64 " compressed", s->compressed);
    fprintf(f, "\n");
    fprintf(f, "  acknowledged        %" PRIu64 " (%.0f records/s)\n", s->acked, rate);
    fprintf(f, "  retried             %" PRIu64 "\n", s->retried);
    fprintf(f, "  abandoned           %" PRIu64 "\n", s->abandoned);
    fprintf(f, "  resent after reset  %" PRIu64 "\n", s->reset_resent);
    fprintf(f, "  outstanding         %" PRIu64 "\n", outstanding);
    fprintf(f, "  cpu (s)             user %.3f  sys %.3f\n", s->cpu_user_s, s->cpu_sys_s);
    fprintf(f, "  latency (us)        ");
    for (size_t i = 0; i < 4; i++)
        fprintf(f, "%s %.1f  ", qnames[i], us(xg_hist_quantile(&s->lat, quantiles[i])));
    fprintf(f, "max %.1f  (%" PRIu64 " replies)\n", us(s->lat.max), s->lat.count);
    if (s->gap.count) {
        fprintf(f, "  send gap (us)       ");
        for (size_t i = 0; i < 4; i++)
            fprintf(f, "%s %.1f  ", qnames[i], us(xg_hist_quantile(&s->gap, quantiles[i])));
        fprintf(f, "min %.1f  max %.1f\n", us(s->gap.min), us(s->gap.max));
    }
    fprintf(f,
            "  connections         %" PRIu64 " opened, %" PRIu64 " failed to connect, resets: %" PRIu64
            " by peer, %" PRIu64 " timeout, %" PRIu64 " malformed\n",
            s->connects, s->connect_failures, s->resets_peer, s->resets_timeout,
            s->resets_malformed);
    fprintf(f, "  result codes       ");
    for (int c = 0; c < 256; c++)
        if (s->codes[c])
            fprintf(f, " %d:%" PRIu64, c, s->codes[c]);
    fprintf(f, "\n");
    fflush(f);
}

void xg_stats_progress(const struct xg_stats *s, FILE *f, uint64_t now_ns, uint64_t outstanding) {
    fprintf(f,
            "xdrgen: %.1f s sent=%" PRIu64 " acknowledged=%" PRIu64 " retried=%" PRIu64
            " abandoned=%" PRIu64 " resent_after_reset=%" PRIu64 " outstanding=%" PRIu64
            " p99_us=%.1f\n",
            elapsed_s(s, now_ns), s->sent, s->acked, s->retried, s->abandoned, s->reset_resent,
            outstanding, us(xg_hist_quantile(&s->lat, 0.99)));
    fflush(f);
}
