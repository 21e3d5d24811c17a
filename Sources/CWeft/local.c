// The in-process transport: a communicator whose ranks are threads of this process, so the
// layers above can be unit-tested without mpirun (as gloo's tests spawn ranks as threads).
// The ranks of a communicator share one group: a lock and a condition variable, a counting
// barrier whose slots let ranks exchange a few values (buffer addresses, counts, colours),
// and per rank a mailbox of unmatched messages and posted receives. Sends are copied
// eagerly (MPI allows it) and so complete at once; a receive takes the first message from
// its source with its tag, as MPI's non-overtaking rule asks. Every wait honours the
// timeout. Nothing here calls MPI.
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/// What one rank publishes in an exchange.
typedef struct {
    const void *address[2];
    int64_t value[2];
} slot_t;

struct message {
    struct message *next;
    int source, tag;
    int64_t bytes;
    char data[];
};

struct mailbox {
    struct message *messages;                // sent to this rank, not yet received
    struct weft_local_request *receives;     // posted by this rank, not yet matched
};

struct weft_local_group {
    int size;
    int references; // handles not yet freed (under lock)
    int32_t *nodes; // emulated node of each rank
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int arrived;
    int64_t generation;
    slot_t *slots; // two rounds of `size` slots, alternating with the generation
    struct mailbox *mailboxes;
};

// MARK: - Groups and handles

static void group_destroy(struct weft_local_group *g) {
    for (int r = 0; g->mailboxes && r < g->size; r++) {
        for (struct message *m = g->mailboxes[r].messages, *next; m; m = next) {
            next = m->next;
            free(m);
        }
    }
    pthread_mutex_destroy(&g->lock);
    pthread_cond_destroy(&g->changed);
    free(g->nodes);
    free(g->slots);
    free(g->mailboxes);
    free(g);
}

static struct weft_local_group *group_create(int size, const int32_t *nodes) {
    struct weft_local_group *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    pthread_mutex_init(&g->lock, NULL);
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&g->changed, &attributes);
    pthread_condattr_destroy(&attributes);
    g->size = size;
    g->references = size;
    g->nodes = calloc((size_t)size, sizeof *g->nodes);
    g->slots = calloc(2 * (size_t)size, sizeof *g->slots);
    g->mailboxes = calloc((size_t)size, sizeof *g->mailboxes);
    if (!g->nodes || !g->slots || !g->mailboxes) {
        group_destroy(g);
        return NULL;
    }
    if (nodes) memcpy(g->nodes, nodes, sizeof *g->nodes * (size_t)size);
    return g;
}

static weft_comm_t new_handle(struct weft_local_group *g, int rank) {
    struct weft_comm *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->comm = MPI_COMM_NULL;
    c->local = g;
    c->local_rank = rank;
    return c;
}

int weft_comm_local_create(int ranks, const int32_t *node_of_rank, weft_comm_t *out) {
    if (ranks < 1 || !out) return WEFT_ERR_ARGUMENT;
    struct weft_local_group *g = group_create(ranks, node_of_rank);
    if (!g) return WEFT_ERR_NO_MEMORY;
    for (int r = 0; r < ranks; r++) {
        if ((out[r] = new_handle(g, r))) continue;
        for (int q = 0; q < r; q++) free(out[q]);
        group_destroy(g);
        return WEFT_ERR_NO_MEMORY;
    }
    return WEFT_OK;
}

int weft_local_comm_free(weft_comm_t comm) {
    struct weft_local_group *g = comm->local;
    pthread_mutex_lock(&g->lock);
    int last = --g->references == 0;
    pthread_mutex_unlock(&g->lock);
    if (last) group_destroy(g);
    free(comm);
    return WEFT_OK;
}

int weft_local_size(weft_comm_t comm) { return comm->local->size; }

// MARK: - Waiting

/// The absolute deadline of a wait starting now; returns 0 when there is no timeout.
static int deadline(struct timespec *until) {
    if (weft_timeout_seconds <= 0) return 0;
    clock_gettime(CLOCK_MONOTONIC, until);
    int64_t ns = (int64_t)until->tv_nsec + (int64_t)(weft_timeout_seconds * 1e9);
    until->tv_sec += (time_t)(ns / 1000000000);
    until->tv_nsec = (long)(ns % 1000000000);
    return 1;
}

/// Waits (lock held) for the group to change; WEFT_ERR_TIMEOUT once `until` has passed.
static int await_change(struct weft_local_group *g, const struct timespec *until) {
    if (!until) return pthread_cond_wait(&g->changed, &g->lock), WEFT_OK;
    return pthread_cond_timedwait(&g->changed, &g->lock, until) == ETIMEDOUT ? WEFT_ERR_TIMEOUT : WEFT_OK;
}

/// Every rank publishes `mine`; once all have, each reads all slots into `all` (NULL: a
/// plain barrier). Rounds alternate between two sets of slots: a rank can be at most one
/// round ahead, so it never overwrites a slot a slower rank has still to read.
static int exchange(weft_comm_t comm, slot_t mine, slot_t *all) {
    struct weft_local_group *g = comm->local;
    struct timespec until;
    const struct timespec *limit = deadline(&until) ? &until : NULL;
    int rc = WEFT_OK;
    pthread_mutex_lock(&g->lock);
    int64_t generation = g->generation;
    slot_t *round = g->slots + (generation & 1) * g->size;
    round[comm->local_rank] = mine;
    if (++g->arrived == g->size) {
        g->arrived = 0;
        g->generation++;
        pthread_cond_broadcast(&g->changed);
    }
    while (g->generation == generation) {
        if (await_change(g, limit) != WEFT_OK && g->generation == generation) {
            g->arrived--; // withdraw, so a later round is not miscounted
            rc = WEFT_ERR_TIMEOUT;
            break;
        }
    }
    if (rc == WEFT_OK && all) memcpy(all, round, sizeof *all * (size_t)g->size);
    pthread_mutex_unlock(&g->lock);
    return rc;
}

int weft_local_barrier(weft_comm_t comm) { return exchange(comm, (slot_t){.value = {0}}, NULL); }

// MARK: - Point-to-point

static void deliver(struct weft_local_request *r, const void *data, int64_t bytes) {
    int64_t n = bytes < r->capacity ? bytes : r->capacity;
    if (n > 0) memcpy(r->buffer, data, (size_t)n);
    r->received = bytes;
    r->done = 1;
}

int weft_local_post(weft_comm_t comm, int send, void *buffer, int64_t bytes, int peer, int tag,
                    struct weft_local_request *request) {
    struct weft_local_group *g = comm->local;
    int rank = comm->local_rank, rc = WEFT_OK;
    if (peer < 0 || peer >= g->size) return WEFT_ERR_ARGUMENT;
    *request = (struct weft_local_request){
        .group = g, .buffer = buffer, .capacity = bytes, .received = -1, .source = peer, .tag = tag, .done = send,
    };
    pthread_mutex_lock(&g->lock);
    if (send) {
        // A receive already posted for this message takes it; else it waits in the mailbox.
        struct weft_local_request **link = &g->mailboxes[peer].receives;
        while (*link && ((*link)->source != rank || (*link)->tag != tag)) link = &(*link)->next;
        if (*link) {
            struct weft_local_request *r = *link;
            *link = r->next;
            deliver(r, buffer, bytes);
            pthread_cond_broadcast(&g->changed);
        } else {
            struct message *m = malloc(sizeof *m + (size_t)bytes);
            if (!m) {
                rc = WEFT_ERR_NO_MEMORY;
            } else {
                *m = (struct message){.source = rank, .tag = tag, .bytes = bytes};
                if (bytes > 0) memcpy(m->data, buffer, (size_t)bytes);
                struct message **end = &g->mailboxes[peer].messages;
                while (*end) end = &(*end)->next;
                *end = m;
            }
        }
    } else {
        struct message **link = &g->mailboxes[rank].messages;
        while (*link && ((*link)->source != peer || (*link)->tag != tag)) link = &(*link)->next;
        if (*link) {
            struct message *m = *link;
            *link = m->next;
            deliver(request, m->data, m->bytes);
            free(m);
        } else {
            struct weft_local_request **end = &g->mailboxes[rank].receives;
            while (*end) end = &(*end)->next;
            *end = request;
        }
    }
    pthread_mutex_unlock(&g->lock);
    return rc;
}

/// Takes a receive that timed out out of its mailbox (lock held).
static void withdraw(struct weft_local_group *g, struct weft_local_request *request) {
    for (int r = 0; r < g->size; r++) {
        for (struct weft_local_request **link = &g->mailboxes[r].receives; *link; link = &(*link)->next) {
            if (*link == request) {
                *link = request->next;
                return;
            }
        }
    }
}

int weft_local_wait_all(int n, struct weft_local_request *requests, const int64_t *expected) {
    if (n == 0) return WEFT_OK;
    struct weft_local_group *g = requests[0].group;
    struct timespec until;
    const struct timespec *limit = deadline(&until) ? &until : NULL;
    int rc = WEFT_OK;
    pthread_mutex_lock(&g->lock);
    for (int i = 0; i < n && rc == WEFT_OK; i++) {
        while (!requests[i].done) {
            if (await_change(g, limit) != WEFT_OK && !requests[i].done) {
                rc = WEFT_ERR_TIMEOUT;
                break;
            }
        }
    }
    if (rc != WEFT_OK)
        for (int i = 0; i < n; i++)
            if (!requests[i].done) withdraw(g, &requests[i]);
    pthread_mutex_unlock(&g->lock);
    for (int i = 0; i < n && rc == WEFT_OK; i++) {
        // A message longer than its receive buffer is MPI's truncation; one of another
        // length than expected means the ranks disagree on the count.
        if (requests[i].received > requests[i].capacity || (expected && expected[i] >= 0 && requests[i].received != expected[i]))
            rc = WEFT_ERR_COUNT_MISMATCH;
    }
    return rc;
}

// MARK: - Communicators and nodes

int weft_local_split(weft_comm_t comm, int color, int key, weft_comm_t *out) {
    struct weft_local_group *g = comm->local;
    int ranks = g->size, rank = comm->local_rank, n = 0, rc;
    *out = NULL;
    slot_t *all = malloc(sizeof *all * (size_t)ranks);
    int *members = malloc(sizeof *members * (size_t)ranks);
    int32_t *nodes = malloc(sizeof *nodes * (size_t)ranks);
    if (!all || !members || !nodes) {
        rc = WEFT_ERR_NO_MEMORY;
        goto done;
    }
    if ((rc = exchange(comm, (slot_t){.value = {color, key}}, all)) != WEFT_OK) goto done;
    // The caller's colour, ordered by (key, rank); the first member creates the group.
    for (int q = 0; q < ranks && color >= 0; q++) {
        if (all[q].value[0] != color) continue;
        int at = n++;
        while (at > 0 && all[members[at - 1]].value[1] > all[q].value[1]) {
            members[at] = members[at - 1];
            at--;
        }
        members[at] = q;
    }
    struct weft_local_group *created = NULL;
    if (n > 0 && members[0] == rank) {
        for (int i = 0; i < n; i++) nodes[i] = g->nodes[members[i]];
        created = group_create(n, nodes);
    }
    if ((rc = exchange(comm, (slot_t){.address = {created}}, all)) != WEFT_OK) {
        if (created) group_destroy(created);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        if (members[i] != rank) continue;
        struct weft_local_group *joined = (struct weft_local_group *)all[members[0]].address[0];
        if (!joined || !(*out = new_handle(joined, i))) rc = WEFT_ERR_NO_MEMORY;
    }
done:
    free(all);
    free(members);
    free(nodes);
    return rc;
}

int weft_local_split_shared(weft_comm_t comm, weft_comm_t *out) {
    return weft_local_split(comm, comm->local->nodes[comm->local_rank], comm->local_rank, out);
}

int weft_local_is_node_local(weft_comm_t comm) {
    struct weft_local_group *g = comm->local;
    for (int r = 1; r < g->size; r++)
        if (g->nodes[r] != g->nodes[0]) return 0;
    return 1;
}

int weft_local_node_keys(weft_comm_t comm, int32_t *keys) {
    struct weft_local_group *g = comm->local;
    for (int r = 0; r < g->size; r++) {
        int first = 0;
        while (g->nodes[first] != g->nodes[r]) first++;
        keys[r] = first;
    }
    return WEFT_OK;
}

int weft_local_host_names(weft_comm_t comm, char *names) {
    struct weft_local_group *g = comm->local;
    for (int r = 0; r < g->size; r++)
        snprintf(names + (size_t)r * WEFT_HOST_NAME_BYTES, WEFT_HOST_NAME_BYTES, "host-%d", (int)g->nodes[r]);
    return WEFT_OK;
}

// MARK: - Windows: every rank's segment is memory of this process; put and get are memcpy.

/// The ranks' allocations, freed by whichever rank frees the window last (so freeing never
/// waits for the others, and no rank's memory goes while another still holds the window).
struct window_memory {
    atomic_int references;
    void *allocations[];
};

struct weft_local_window {
    struct window_memory *memory;
    int ranks, shared;
    struct {
        char *base;
        int64_t bytes;
    } segments[];
};

int weft_local_window(weft_comm_t comm, int kind, int64_t bytes, void **base, weft_window_t *out) {
    int ranks = comm->local->size, rank = comm->local_rank;
    if (bytes < 0) return WEFT_ERR_ARGUMENT;
    if (kind == WEFT_LOCAL_ALLOCATE_SHARED && !weft_local_is_node_local(comm)) return WEFT_ERR_NOT_SHARED;
    void *allocated = NULL;
    if (kind != WEFT_LOCAL_CREATE) {
        // Page-aligned and zeroed, like Open MPI's non-contiguous shared segments.
        if (posix_memalign(&allocated, 4096, bytes > 0 ? (size_t)bytes : 1) != 0) return WEFT_ERR_NO_MEMORY;
        memset(allocated, 0, (size_t)bytes);
        *base = allocated;
    }
    struct window_memory *memory = NULL;
    if (rank == 0 && (memory = calloc(1, sizeof *memory + sizeof(void *) * (size_t)ranks)))
        atomic_init(&memory->references, ranks);
    struct weft_window *w = calloc(1, sizeof *w);
    struct weft_local_window *local = calloc(1, sizeof *local + sizeof local->segments[0] * (size_t)ranks);
    slot_t *all = malloc(sizeof *all * (size_t)ranks);
    int rc = (!w || !local || !all || (rank == 0 && !memory)) ? WEFT_ERR_NO_MEMORY : WEFT_OK;
    if (rc == WEFT_OK) rc = exchange(comm, (slot_t){.address = {*base, memory}, .value = {bytes}}, all);
    if (rc == WEFT_OK) {
        local->memory = (struct window_memory *)all[0].address[1];
        local->memory->allocations[rank] = allocated;
        local->ranks = ranks;
        local->shared = kind == WEFT_LOCAL_ALLOCATE_SHARED;
        for (int q = 0; q < ranks; q++) {
            local->segments[q].base = (char *)all[q].address[0];
            local->segments[q].bytes = all[q].value[0];
        }
        w->local = local;
        *out = w;
    } else {
        free(allocated);
        free(memory);
        free(local);
        free(w);
    }
    free(all);
    return rc;
}

int weft_local_shared_query(weft_window_t window, int rank, void **base, int64_t *bytes) {
    struct weft_local_window *w = window->local;
    if (!w->shared) return WEFT_ERR_NOT_SHARED;
    if (rank < 0 || rank >= w->ranks) return WEFT_ERR_ARGUMENT;
    *base = w->segments[rank].base;
    if (bytes) *bytes = w->segments[rank].bytes;
    return WEFT_OK;
}

int weft_local_access(weft_window_t window, int write, void *local, int64_t bytes, int target, int64_t offset) {
    struct weft_local_window *w = window->local;
    if (target < 0 || target >= w->ranks || offset < 0 || bytes < 0 || offset + bytes > w->segments[target].bytes)
        return WEFT_ERR_ARGUMENT;
    char *remote = w->segments[target].base + offset;
    if (bytes > 0) write ? memcpy(remote, local, (size_t)bytes) : memcpy(local, remote, (size_t)bytes);
    return WEFT_OK;
}

int weft_local_window_free(weft_window_t window) {
    struct window_memory *memory = window->local->memory;
    if (atomic_fetch_sub_explicit(&memory->references, 1, memory_order_acq_rel) == 1) {
        for (int q = 0; q < window->local->ranks; q++) free(memory->allocations[q]);
        free(memory);
    }
    free(window->local);
    free(window);
    return WEFT_OK;
}

// MARK: - The `mpi` collectives without MPI

/// Every rank publishes its input; each reads what it needs from the others' — reductions
/// in rank order into a private result, so every rank computes bit-identical values — and
/// once all have read, writes its own buffer. `count` is elements (blocks for the
/// block-wise collectives); ranks that disagree on it, or on the root, all fail alike.
int weft_local_collective(weft_comm_t comm, weft_local_collective_t kind, const void *input, void *output,
                          int64_t count, weft_dtype_t dtype, weft_op_t op, int root) {
    int ranks = comm->local->size, rank = comm->local_rank;
    size_t bytes = (size_t)count * weft_dtype_size(dtype);
    slot_t *all = malloc(sizeof *all * (size_t)ranks);
    const void **sources = malloc(sizeof *sources * (size_t)ranks);
    char *result = NULL, *destination = NULL;
    int rc = all && sources ? exchange(comm, (slot_t){.address = {input}, .value = {count, root}}, all)
                            : WEFT_ERR_NO_MEMORY;
    for (int q = 0; q < ranks && rc == WEFT_OK; q++) {
        if (all[q].value[0] != count) rc = WEFT_ERR_COUNT_MISMATCH;
        else if (all[q].value[1] != root) rc = WEFT_ERR_ARGUMENT;
    }
    if (rc != WEFT_OK) goto done;
    switch (kind) {
    case WEFT_LOCAL_ALLREDUCE:
    case WEFT_LOCAL_REDUCE:
    case WEFT_LOCAL_REDUCE_SCATTER: {
        if (kind == WEFT_LOCAL_REDUCE && rank != root) break;
        size_t offset = kind == WEFT_LOCAL_REDUCE_SCATTER ? (size_t)rank * bytes : 0;
        for (int q = 0; q < ranks; q++) sources[q] = (const char *)all[q].address[0] + offset;
        destination = (char *)output + offset;
        if ((result = malloc(bytes > 0 ? bytes : 1)))
            weft_reduce_many(result, sources, ranks, count, dtype, op);
        else
            rc = WEFT_ERR_NO_MEMORY;
        break;
    }
    case WEFT_LOCAL_ALLGATHER: // rank q's block of its own buffer; no rank writes its own block
        for (int q = 0; q < ranks && bytes > 0; q++)
            if (q != rank) memcpy((char *)output + q * bytes, (const char *)all[q].address[0] + q * bytes, bytes);
        break;
    case WEFT_LOCAL_BROADCAST:
        if (rank != root && bytes > 0) memcpy(output, all[root].address[0], bytes);
        break;
    case WEFT_LOCAL_ALLTOALL:
        for (int q = 0; q < ranks && bytes > 0; q++)
            memcpy((char *)output + q * bytes, (const char *)all[q].address[0] + (size_t)rank * bytes, bytes);
        break;
    }
    int read = weft_local_barrier(comm); // every rank has read every buffer it needs
    if (rc == WEFT_OK) rc = read;
    if (rc == WEFT_OK && result) {
        if (bytes > 0) memcpy(destination, result, bytes);
        if (op == WEFT_AVG) weft_divide(destination, count, dtype, ranks);
    }
done:
    free(result);
    free(sources);
    free(all);
    return rc;
}
