/*
 * plugins/source-xdr/balance.c: which worker owns a new connection.
 *
 * A real cluster opens only a few XDR connections, and SO_REUSEPORT's hash
 * of the addresses often puts two of them on one worker while another idles.
 * So every worker still listens and accepts (listener.c: the kernel spreads
 * the accepting), but the connection then goes to the worker this file
 * chooses, deterministically: the one holding the fewest connections of
 * this peer, then the fewest connections in all, then the next in turn
 * after the last choice (round-robin). N connections of one peer on W
 * workers therefore land N/W on each (one more on the first N mod W).
 *
 * The instances of one source on all workers share one `group`, found by
 * their configuration (one per [source.*] section and configuration
 * load): a source set up again while the process runs (reload) gets a
 * group of its own, and the groups never see each other's connections.
 * The group counts, under its mutex, the connections each worker holds
 * (per peer too); a connection counts from the moment it is placed until
 * it closes (or is refused by its owner's guard), so two workers accepting
 * at once never both choose the same idle worker.
 *
 * A connection for another worker: its socket is duplicated (the accepting
 * worker's libuv handle is closed) and queued on the owner's inbox, whose
 * uv_async wakes the owner's loop; the owner adopts the socket
 * (uv_tcp_open) and judges it like one it accepted (guard.c: per-peer
 * share, max_connections share, eviction), then reads and, with TLS, does
 * the handshake itself. Nothing was read from it before. The `allow` list
 * is applied by the accepting worker before the choice (it depends only on
 * the address), so a stranger never costs a handoff.
 *
 * A worker is chosen from create() (every worker's instance exists before
 * any source starts, so a worker that starts late is not passed over and
 * left idle for good) until stop(); it adopts what waits in its inbox
 * once it has started. At stop() its inbox is emptied (those connections are closed, counted refused: XDR
 * reconnects) and no one chooses it any more. At retire() (a reload
 * replaced the section: the new instances have a group of their own) no
 * one chooses it any more either, but what its inbox already holds is
 * adopted and served; its connections keep counting here until they
 * close. The group outlives its instances' connections: each instance
 * leaves when it is freed.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "source.h"

/* A connection on its way to its owner. */
struct xs_handoff {
    struct xs_handoff *next;
    int fd;
    uint16_t port;
    struct xs_ip ip;
    char peer[64];
    char listener[64];
};

struct xs_member {
    struct xs_src *x;                 /* NULL: no instance on this worker (yet, or any more) */
    bool open;                        /* takes connections (between start and stop) */
    size_t conns;                     /* connections placed on it and not closed */
    struct xs_handoff *head, *tail;   /* its inbox */
};

/* One peer's connections per worker: n[workers]. */
struct xs_peer_load {
    struct xs_ip ip;
    size_t total;
    size_t *n;
};

struct xs_group {
    struct xs_group *next;
    const void *key;                  /* the source's configuration */
    unsigned workers, members;
    uv_mutex_t lock;
    struct xs_member *m;              /* one per worker */
    unsigned cursor;                  /* where the round-robin tie-break starts */
    struct xs_peer_load *peers;
    size_t n_peers, cap_peers;
};

/* Every group of the process (one per source and configuration load). */
static uv_once_t registry_once = UV_ONCE_INIT;
static uv_mutex_t registry_lock;
static struct xs_group *registry;

static void registry_init(void) {
    if (uv_mutex_init(&registry_lock) != 0)
        abort(); /* cannot happen on Linux; nothing could be shared without it */
}

static void group_free(struct xs_group *g) {
    for (size_t i = 0; i < g->n_peers; i++)
        free(g->peers[i].n);
    free(g->peers);
    free(g->m);
    uv_mutex_destroy(&g->lock);
    free(g);
}

static void on_inbox(uv_async_t *h);
static void on_inbox_closed(uv_handle_t *h) { xs_handle_closed(h->data); }

spw_result xs_balance_join(struct xs_src *x, spw_err *err) {
    unsigned workers = spw_stage_workers(x->st) ? spw_stage_workers(x->st) : 1;
    x->worker = spw_stage_worker(x->st);
    if (x->worker >= workers)
        return spw_err_set(err, SPW_ERR_INVAL, "worker %u of %u", x->worker, workers);

    uv_once(&registry_once, registry_init);
    uv_mutex_lock(&registry_lock);
    struct xs_group *g = registry;
    while (g && g->key != x->cf)
        g = g->next;
    if (g == NULL) {
        g = calloc(1, sizeof *g);
        if (g && (g->m = calloc(workers, sizeof *g->m)) != NULL &&
            uv_mutex_init(&g->lock) == 0) {
            g->key = x->cf;
            g->workers = workers;
            g->next = registry;
            registry = g;
        } else {
            if (g)
                free(g->m);
            free(g);
            uv_mutex_unlock(&registry_lock);
            return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
        }
    }
    if (g->workers != workers || g->m[x->worker].x != NULL) {
        /* Two instances of one configuration on one worker: the core never does this. */
        uv_mutex_unlock(&registry_lock);
        return spw_err_set(err, SPW_ERR_INVAL,
                           "this source already has an instance on worker %u", x->worker);
    }
    uv_mutex_lock(&g->lock);
    g->m[x->worker].x = x;
    /* Chosen from now on: the core starts no source before every worker's create() returned,
     * so the first connection already sees every worker, however late one starts. */
    g->m[x->worker].open = true;
    g->members++;
    uv_mutex_unlock(&g->lock);
    uv_mutex_unlock(&registry_lock);

    x->group = g;
    uv_async_init(x->loop, &x->inbox, on_inbox);
    x->inbox.data = x;
    x->handles++;
    return SPW_OK;
}

/* Takes the inbox out under the lock; the caller closes what it held. */
static struct xs_handoff *take_inbox(struct xs_group *g, unsigned w) {
    struct xs_handoff *list = g->m[w].head;
    g->m[w].head = g->m[w].tail = NULL;
    return list;
}

static struct xs_peer_load *peer_find(struct xs_group *g, const struct xs_ip *ip) {
    for (size_t i = 0; i < g->n_peers; i++)
        if (xs_ip_equal(&g->peers[i].ip, ip))
            return &g->peers[i];
    return NULL;
}

/* Under the lock: one connection of ip on worker w fewer. */
static void release_locked(struct xs_group *g, unsigned w, const struct xs_ip *ip) {
    if (g->m[w].conns > 0)
        g->m[w].conns--;
    struct xs_peer_load *p = peer_find(g, ip);
    if (p == NULL)
        return; /* placed when the table had no room: counted in conns only */
    if (p->n[w] > 0) {
        p->n[w]--;
        p->total--;
    }
    if (p->total == 0) {
        free(p->n);
        *p = g->peers[--g->n_peers];
    }
}

/* Closes handed-off connections nobody will adopt (their owner stopped). */
static void drop_handoffs(struct xs_src *x, struct xs_handoff *list) {
    while (list) {
        struct xs_handoff *h = list;
        list = h->next;
        close(h->fd);
        spw_counter_add(x->c_refused, 1); /* XDR reconnects */
        free(h);
    }
}

void xs_balance_start(struct xs_src *x) {
    /* What other workers handed over before this one started waits in the inbox: take it. */
    uv_async_send(&x->inbox);
}

void xs_balance_close(struct xs_src *x) {
    struct xs_group *g = x->group;
    if (g == NULL)
        return;
    uv_mutex_lock(&g->lock);
    g->m[x->worker].open = false;
    struct xs_handoff *list = take_inbox(g, x->worker);
    for (struct xs_handoff *h = list; h; h = h->next)
        release_locked(g, x->worker, &h->ip);
    uv_mutex_unlock(&g->lock);
    drop_handoffs(x, list);
    if (!uv_is_closing((uv_handle_t *)&x->inbox))
        uv_close((uv_handle_t *)&x->inbox, on_inbox_closed);
}

void xs_balance_leave(struct xs_src *x) {
    struct xs_group *g = x->group;
    if (g == NULL)
        return;
    x->group = NULL;
    uv_mutex_lock(&registry_lock);
    uv_mutex_lock(&g->lock);
    g->m[x->worker].x = NULL;
    g->m[x->worker].open = false;
    bool last = --g->members == 0;
    uv_mutex_unlock(&g->lock);
    if (last) {
        for (struct xs_group **pp = &registry; *pp; pp = &(*pp)->next)
            if (*pp == g) {
                *pp = g->next;
                break;
            }
        group_free(g);
    }
    uv_mutex_unlock(&registry_lock);
}

/* Under the lock: the owner for a connection of ip (see the top of the file). */
static unsigned choose(struct xs_group *g, const struct xs_peer_load *p, unsigned self) {
    unsigned best = self;
    bool found = false;
    for (unsigned k = 0; k < g->workers; k++) {
        unsigned w = (g->cursor + k) % g->workers;
        if (!g->m[w].open || g->m[w].x == NULL)
            continue;
        if (!found) {
            best = w;
            found = true;
            continue;
        }
        size_t pw = p ? p->n[w] : 0, pb = p ? p->n[best] : 0;
        if (pw < pb || (pw == pb && g->m[w].conns < g->m[best].conns))
            best = w;
    }
    return best;
}

int xs_balance_place(struct xs_src *x, struct xs_conn *c, const char *listener) {
    struct xs_group *g = x->group;
    struct xs_handoff *h = NULL;

    uv_mutex_lock(&g->lock);
    struct xs_peer_load *p = peer_find(g, &c->ip);
    if (p == NULL && g->n_peers == g->cap_peers) {
        size_t cap = g->cap_peers ? g->cap_peers * 2 : 16;
        struct xs_peer_load *np = realloc(g->peers, cap * sizeof *np);
        if (np) {
            g->peers = np;
            g->cap_peers = cap;
        }
    }
    if (p == NULL && g->n_peers < g->cap_peers) {
        size_t *n = calloc(g->workers, sizeof *n);
        if (n) {
            p = &g->peers[g->n_peers++];
            *p = (struct xs_peer_load){.ip = c->ip, .total = 0, .n = n};
        }
    }
    unsigned w = choose(g, p, x->worker);
    if (w != x->worker) {
        /* The owner adopts a duplicate; this worker's handle closes (listener.c). */
        int fd = -1;
        uv_os_fd_t own;
        h = malloc(sizeof *h);
        if (h && uv_fileno((uv_handle_t *)&c->tcp, &own) == 0)
            fd = fcntl(own, F_DUPFD_CLOEXEC, 0);
        if (fd < 0) {
            free(h); /* out of memory or descriptors: keep it here, as before */
            h = NULL;
            w = x->worker;
        } else {
            *h = (struct xs_handoff){.next = NULL, .fd = fd, .port = c->port, .ip = c->ip};
            memcpy(h->peer, c->peer, sizeof h->peer);
            snprintf(h->listener, sizeof h->listener, "%s", listener);
        }
    }
    g->cursor = (w + 1) % g->workers;
    g->m[w].conns++;
    if (p) {
        p->n[w]++;
        p->total++;
    }
    if (h) {
        if (g->m[w].tail)
            g->m[w].tail->next = h;
        else
            g->m[w].head = h;
        g->m[w].tail = h;
        /* Under the lock: the owner closes its inbox only after it stopped being open. */
        uv_async_send(&g->m[w].x->inbox);
    }
    uv_mutex_unlock(&g->lock);
    return (int)w;
}

void xs_balance_release(struct xs_src *x, const struct xs_ip *ip) {
    struct xs_group *g = x->group;
    if (g == NULL)
        return;
    uv_mutex_lock(&g->lock);
    release_locked(g, x->worker, ip);
    uv_mutex_unlock(&g->lock);
}

/* Adopts connections other workers handed over (taken out of the inbox). */
static void adopt(struct xs_src *x, struct xs_handoff *list) {
    while (list) {
        struct xs_handoff *h = list;
        list = h->next;
        struct xs_conn *c = x->stopping ? NULL : calloc(1, sizeof *c);
        if (c == NULL) {
            if (!x->stopping)
                spw_log(x->st, SPW_LOG_ERROR, "%s: out of memory for a connection", h->listener);
            xs_balance_release(x, &h->ip);
            h->next = NULL;
            drop_handoffs(x, h);
            continue;
        }
        c->x = x;
        c->port = h->port;
        c->ip = h->ip;
        c->placed = true;
        memcpy(c->peer, h->peer, sizeof c->peer);
        uv_tcp_init(x->loop, &c->tcp);
        c->tcp.data = c;
        x->handles++;
        int r = uv_tcp_open(&c->tcp, h->fd);
        if (r != 0) {
            spw_log(x->st, SPW_LOG_WARN, "%s: cannot take over a connection from %s: %s",
                    h->listener, h->peer, uv_strerror(r));
            close(h->fd);
            xs_conn_unadmitted(c);
        } else {
            xs_conn_admit(c, h->listener);
        }
        free(h);
    }
}

/* The owner's loop: adopts what other workers handed over. */
static void on_inbox(uv_async_t *a) {
    struct xs_src *x = a->data;
    struct xs_group *g = x->group;
    if (g == NULL || !x->started)
        return; /* not serving yet: xs_balance_start wakes this again */
    uv_mutex_lock(&g->lock);
    struct xs_handoff *list = take_inbox(g, x->worker);
    uv_mutex_unlock(&g->lock);
    adopt(x, list);
}

void xs_balance_retire(struct xs_src *x) {
    struct xs_group *g = x->group;
    if (g == NULL)
        return;
    /* Chosen no more; what was handed over before that is served, not refused. */
    uv_mutex_lock(&g->lock);
    g->m[x->worker].open = false;
    struct xs_handoff *list = take_inbox(g, x->worker);
    uv_mutex_unlock(&g->lock);
    adopt(x, list);
}
