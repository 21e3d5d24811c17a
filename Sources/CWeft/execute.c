// The schedule executor: runs one rank's lowered schedule, step by step. Within a step,
// receives are posted first, then sends; all complete before local copies, shared-memory
// operations and reductions apply, so a send always carries the buffer as it was when the
// step began (the semantics the Swift checker proves schedules against).
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static inline int is_shared(int32_t kind) { return kind == WEFT_OP_SHARED_COPY || kind == WEFT_OP_SHARED_REDUCE; }

int64_t weft_program_scratch_bytes(const weft_schedule_op_t *ops, int64_t n, weft_layout_t layout, weft_dtype_t dtype) {
    int64_t best = 0, current = 0;
    for (int64_t i = 0; i < n; i++) {
        if (i > 0 && ops[i].step != ops[i - 1].step) current = 0;
        if (ops[i].kind == WEFT_OP_RECV_REDUCE) {
            current += chunk_elements(layout, ops[i].destination_chunk, ops[i].chunks) * (int64_t)weft_dtype_size(dtype);
            if (current > best) best = current;
        }
    }
    return best;
}

// Request storage grows once and is reused, per thread: one thread per process under MPI
// (FUNNELED), one per rank on a local communicator.
static _Thread_local MPI_Request *requests;
static _Thread_local struct weft_local_request *local_requests;
static _Thread_local int64_t *expected;
static _Thread_local int *peers;
static _Thread_local struct weft_socket_transfer *transfers;
static _Thread_local int capacity;
/// The peer a timed-out step was still waiting for (weft_timeout_peer), or -1.
static _Thread_local int unanswered = -1;

static int reserve(int needed) {
    if (needed <= capacity) return WEFT_OK;
    int grown = needed > 2 * capacity ? needed : 2 * capacity;
    MPI_Request *r = realloc(requests, sizeof *r * (size_t)grown);
    if (!r) return WEFT_ERR_NO_MEMORY;
    requests = r;
    struct weft_local_request *l = realloc(local_requests, sizeof *l * (size_t)grown);
    if (!l) return WEFT_ERR_NO_MEMORY;
    local_requests = l;
    int64_t *e = realloc(expected, sizeof *e * (size_t)grown);
    if (!e) return WEFT_ERR_NO_MEMORY;
    expected = e;
    int *p = realloc(peers, sizeof *p * (size_t)grown);
    if (!p) return WEFT_ERR_NO_MEMORY;
    peers = p;
    struct weft_socket_transfer *t = realloc(transfers, sizeof *t * (size_t)grown);
    if (!t) return WEFT_ERR_NO_MEMORY;
    transfers = t;
    capacity = grown;
    return WEFT_OK;
}

static int pieces(int64_t bytes) { return bytes == 0 ? 1 : (int)((bytes + weft_max_message_bytes - 1) / weft_max_message_bytes); }

/// Posts one transfer as messages of at most weft_max_message_bytes (at least one, so a
/// zero-byte transfer still synchronises) — or, to a peer on another node when the
/// communicator has sockets, queues it as one socket transfer.
static int post(int send, weft_comm_t comm, char *address, int64_t bytes, int peer, int tag, int *used, int *sockets) {
    if (weft_sockets_reach(comm->sockets, peer)) {
        transfers[(*sockets)++] = (struct weft_socket_transfer){.address = address, .bytes = bytes, .peer = peer,
                                                                .send = send, .step = tag};
        return WEFT_OK;
    }
    int64_t done = 0;
    do {
        int64_t n = bytes - done < weft_max_message_bytes ? bytes - done : weft_max_message_bytes;
        int rc = comm->local ? weft_local_post(comm, send, address + done, n, peer, tag, &local_requests[*used])
                 : send      ? MPI_Isend(address + done, (int)n, MPI_BYTE, peer, tag, comm->comm, &requests[*used])
                             : MPI_Irecv(address + done, (int)n, MPI_BYTE, peer, tag, comm->comm, &requests[*used]);
        if (rc != MPI_SUCCESS) return rc;
        expected[*used] = send ? -1 : n;
        peers[*used] = peer;
        *used += 1;
        done += n;
    } while (done < bytes);
    return WEFT_OK;
}

/// After a timeout: the first peer whose message has not arrived (else the first whose
/// send has not completed), so the error can name the rank that did not answer.
static void note_unanswered(weft_comm_t comm, int used) {
    unanswered = -1;
    for (int pass = 0; pass < 2 && unanswered < 0; pass++) {
        for (int i = 0; i < used; i++) {
            if ((pass == 0) != (expected[i] >= 0)) continue; // receives first, then sends
            int done = 0;
            if (comm->local) done = local_requests[i].done;
            else MPI_Test(&requests[i], &done, MPI_STATUS_IGNORE);
            if (!done) {
                unanswered = peers[i];
                break;
            }
        }
    }
}

int weft_timeout_peer(void) {
    int peer = unanswered;
    unanswered = -1;
    return peer;
}

void weft_peer_failure_reason(int code, int peer, const char *where, char *buffer, int length) {
    int named = where && *where;
    if (code == WEFT_ERR_PEER_CLOSED)
        snprintf(buffer, (size_t)length, "rank %d%s%s%s closed its connection: it died or ended before the collective did",
                 peer, named ? " (" : "", named ? where : "", named ? ")" : "");
    else
        snprintf(buffer, (size_t)length,
                 "timed out waiting for rank %d%s%s%s: it, or a rank it waits for, died, hangs or was stopped, or the "
                 "ranks called different collectives",
                 peer, named ? " (" : "", named ? where : "", named ? ")" : "");
}

static char *base_of(const weft_buffers_t *buffers, int32_t buffer) {
    return buffer == 0 ? buffers->data : buffers->output;
}

static char *shared_base(const weft_buffers_t *buffers, int32_t buffer, int rank) {
    void *const *bases = buffer == 0 ? buffers->shared_data : buffers->shared_output;
    return bases ? bases[rank] : NULL;
}

/// Where a send or local copy reads its source chunks: the input while they are still
/// only there (prepare_input made sure a range is either wholly there or wholly in `data`).
static const char *source_of(const weft_buffers_t *buffers, const weft_input_t *input, const weft_schedule_op_t *o,
                             weft_layout_t layout, size_t size) {
    if (o->source_buffer == 0 && weft_input_fresh(input, o->source_chunk, o->chunks))
        return weft_input_chunk(input, o->source_chunk);
    return base_of(buffers, o->source_buffer) + chunk_offset(layout, o->source_chunk) * (int64_t)size;
}

/// Before a step's messages are posted: every range of the data buffer the step sends,
/// copies or lets node-mates pull is made wholly fresh or wholly in `data` (copying in one
/// range can split another that overlaps it, hence the repeat), and the ranges node-mates
/// pull all fresh or all in `data`. A shared step works on `data` only: everything is copied
/// in. Returns whether node-mates find what they pull from buffer 0 in the input.
static int prepare_input(weft_input_t *input, const weft_schedule_op_t *ops, int64_t n, int shared) {
    if (!input->input) return 0;
    if (shared) {
        weft_input_materialize(input, 0, input->chunks);
        return 0;
    }
    int changed, held, held_fresh;
    do {
        changed = 0, held = 0, held_fresh = 1;
        for (int64_t k = 0; k < n; k++) {
            const weft_schedule_op_t *o = &ops[k];
            int reads = o->kind == WEFT_OP_SEND || o->kind == WEFT_OP_LOCAL_COPY || o->kind == WEFT_OP_PULL_SEND;
            if (!reads || o->source_buffer != 0) continue;
            int fresh = weft_input_fresh(input, o->source_chunk, o->chunks);
            if (!fresh) changed |= weft_input_materialize(input, o->source_chunk, o->chunks);
            if (o->kind == WEFT_OP_PULL_SEND) held = 1, held_fresh &= fresh;
        }
        for (int64_t k = 0; k < n && held && !held_fresh; k++)
            if (ops[k].kind == WEFT_OP_PULL_SEND && ops[k].source_buffer == 0)
                changed |= weft_input_materialize(input, ops[k].source_chunk, ops[k].chunks);
    } while (changed);
    return held && held_fresh;
}

enum { SHARED_BLOCK_BYTES = 16384 };

/// Reduces (or copies) chunks from one or all ranks' shared segments and stores the
/// result at one or all ranks, in cache-sized blocks: each source is read once and each
/// destination written once.
static int run_shared(const weft_schedule_op_t *o, weft_layout_t layout, weft_dtype_t dtype, weft_op_t op,
                      const weft_buffers_t *buffers, int rank, int ranks) {
    if (buffers->remote_pids) return weft_run_cross_memory(o, layout, dtype, op, buffers, rank, ranks);
    size_t size = weft_dtype_size(dtype);
    int64_t count = chunk_elements(layout, o->source_chunk, o->chunks);
    if (count != chunk_elements(layout, o->destination_chunk, o->chunks)) return WEFT_ERR_ARGUMENT;
    size_t source_offset = (size_t)chunk_offset(layout, o->source_chunk) * size;
    size_t destination_offset = (size_t)chunk_offset(layout, o->destination_chunk) * size;
    int first_target = o->target < 0 ? 0 : o->target, last_target = o->target < 0 ? ranks - 1 : o->target;
    int first_source = o->peer < 0 ? 0 : o->peer, last_source = o->peer < 0 ? ranks - 1 : o->peer;
    int nsources = last_source - first_source + 1;
    // The home destination is the executing rank's own segment when it is a target,
    // else the first target; it is computed in place and copied to the others.
    int home = (rank >= first_target && rank <= last_target) ? rank : first_target;
    char *home_base = shared_base(buffers, o->destination_buffer, home);
    if (!home_base) return WEFT_ERR_NOT_SHARED;
    const char *sources_stack[256];
    const char **sources = nsources <= 256 ? sources_stack : malloc(sizeof(char *) * (size_t)nsources);
    if (!sources) return WEFT_ERR_NO_MEMORY;
    int rc = WEFT_OK;
    // A source aliasing the home destination goes first: the kernel reduces into its first operand.
    int k = 0;
    for (int r = first_source; r <= last_source; r++) {
        const char *b = shared_base(buffers, o->source_buffer, r);
        if (!b) {
            rc = WEFT_ERR_NOT_SHARED;
            goto done;
        }
        const char *s = b + source_offset;
        if (s == home_base + destination_offset && k > 0) {
            sources[k] = sources[0];
            sources[0] = s;
        } else {
            sources[k] = s;
        }
        k++;
    }
    int64_t block = SHARED_BLOCK_BYTES / (int64_t)size;
    const void *block_sources_stack[256];
    const void **block_sources = nsources <= 256 ? block_sources_stack : malloc(sizeof(void *) * (size_t)nsources);
    if (!block_sources) {
        rc = WEFT_ERR_NO_MEMORY;
        goto done;
    }
    for (int64_t start = 0; start < count; start += block) {
        int64_t m = count - start < block ? count - start : block;
        size_t at = (size_t)start * size;
        char *home_block = home_base + destination_offset + at;
        for (int s = 0; s < nsources; s++) block_sources[s] = sources[s] + at;
        if (o->kind == WEFT_OP_SHARED_REDUCE)
            weft_reduce_many(home_block, block_sources, nsources, m, dtype, op);
        else if (home_block != block_sources[0])
            memcpy(home_block, block_sources[0], (size_t)m * size);
        for (int t = first_target; t <= last_target; t++) {
            if (t == home) continue;
            char *b = shared_base(buffers, o->destination_buffer, t);
            if (!b) {
                rc = WEFT_ERR_NOT_SHARED;
                break;
            }
            memcpy(b + destination_offset + at, home_block, (size_t)m * size);
        }
        if (rc != WEFT_OK) break;
    }
    if (block_sources != block_sources_stack) free(block_sources);
done:
    if (sources != sources_stack) free(sources);
    return rc;
}

int weft_execute(weft_comm_t comm, const weft_schedule_op_t *ops, int64_t n, weft_layout_t layout, weft_dtype_t dtype,
                 weft_op_t op, const weft_buffers_t *buffers) {
    int rank = weft_comm_rank(comm), ranks = weft_comm_size(comm);
    size_t size = weft_dtype_size(dtype);
    int64_t total = layout.blocks * layout.block_count;
    int synced = buffers->entry_synced != 0; // a shared barrier just ran, nothing touched memory since
    weft_input_t input;
    int rc = weft_input_open(&input, buffers, layout, dtype);
    for (int64_t i = 0; i < n && rc == WEFT_OK;) {
        int64_t j = i;
        int needed = 0, shared = 0, pulls = 0, held = 0; // held: sends a node-mate pulls
        while (j < n && ops[j].step == ops[i].step) {
            pulls += ops[j].kind == WEFT_OP_PULL_COPY || ops[j].kind == WEFT_OP_PULL_REDUCE;
            held += ops[j].kind == WEFT_OP_PULL_SEND;
            if (ops[j].kind <= WEFT_OP_RECV_REDUCE)
                needed += pieces(chunk_elements(layout, ops[j].kind == WEFT_OP_SEND ? ops[j].source_chunk
                                                                                   : ops[j].destination_chunk,
                                                ops[j].chunks) *
                                 (int64_t)size);
            shared |= is_shared(ops[j].kind);
            j++;
        }
        if (shared && !synced) {
            if (!buffers->shared_barrier) return WEFT_ERR_NOT_SHARED;
            if ((rc = weft_shared_barrier(buffers->shared_barrier, rank, ranks, total)) != WEFT_OK) return rc;
        }
        if ((rc = reserve(needed)) != WEFT_OK) return rc;
        const char *held_data = prepare_input(&input, &ops[i], j - i, shared) ? input.input : buffers->data;
        if (pulls || held) {
            if (!buffers->pull_control || !buffers->pull_slots || !buffers->pull_pids) return WEFT_ERR_ARGUMENT;
            weft_pull_enter(buffers, rank, ops[i].step, total, held_data);
        }
        int tag = ops[i].step & 0x7fff, used = 0, over_sockets = 0;
        int64_t scratch_used = 0;
        for (int64_t k = i; k < j && rc == WEFT_OK; k++) {
            const weft_schedule_op_t *o = &ops[k];
            if (o->kind != WEFT_OP_RECV_COPY && o->kind != WEFT_OP_RECV_REDUCE) continue;
            int64_t bytes = chunk_elements(layout, o->destination_chunk, o->chunks) * (int64_t)size;
            char *address;
            if (o->kind == WEFT_OP_RECV_COPY) {
                address = base_of(buffers, o->destination_buffer) + chunk_offset(layout, o->destination_chunk) * size;
            } else {
                if (scratch_used + bytes > buffers->scratch_bytes) return WEFT_ERR_ARGUMENT;
                address = (char *)buffers->scratch + scratch_used;
                scratch_used += bytes;
            }
            rc = post(0, comm, address, bytes, o->peer, tag, &used, &over_sockets);
        }
        for (int64_t k = i; k < j && rc == WEFT_OK; k++) {
            const weft_schedule_op_t *o = &ops[k];
            if (o->kind != WEFT_OP_SEND) continue;
            int64_t bytes = chunk_elements(layout, o->source_chunk, o->chunks) * (int64_t)size;
            rc = post(1, comm, (char *)source_of(buffers, &input, o, layout, size), bytes, o->peer, tag, &used,
                      &over_sockets);
        }
        for (int64_t k = i; k < j && rc == WEFT_OK && pulls; k++) {
            if (ops[k].kind != WEFT_OP_PULL_COPY && ops[k].kind != WEFT_OP_PULL_REDUCE) continue;
            int waited = -1;
            rc = weft_pull_receive(comm, &ops[k], layout, dtype, op, buffers, &input, &waited);
            if (rc == WEFT_ERR_TIMEOUT) {
                unanswered = waited;
                return rc;
            }
        }
        if (rc == WEFT_OK && pulls) weft_pull_done(buffers, rank, ops[i].step);
        if (rc == WEFT_OK && over_sockets) {
            unanswered = -1;
            rc = weft_sockets_run(comm->sockets, transfers, over_sockets, used ? comm->comm : MPI_COMM_NULL, &unanswered);
            if (rc != WEFT_OK) return rc;
        }
        if (rc == WEFT_OK)
            rc = comm->local ? weft_local_wait_all(used, local_requests, expected) : weft_wait_all(used, requests, expected);
        if (rc == WEFT_ERR_TIMEOUT) note_unanswered(comm, used);
        if (rc != WEFT_OK) return rc;
        for (int64_t k = i; k < j; k++)
            if (ops[k].kind == WEFT_OP_RECV_COPY && ops[k].destination_buffer == 0)
                weft_input_written(&input, ops[k].destination_chunk, ops[k].chunks);
        for (int64_t k = i; k < j && rc == WEFT_OK; k++) {
            const weft_schedule_op_t *o = &ops[k];
            if (o->kind == WEFT_OP_LOCAL_COPY) {
                // A range that writes earlier in this step split (the checker's schedules never
                // do) is copied in first rather than read half from stale `data`.
                if (o->source_buffer == 0 && !weft_input_fresh(&input, o->source_chunk, o->chunks))
                    weft_input_materialize(&input, o->source_chunk, o->chunks);
                int64_t count = chunk_elements(layout, o->source_chunk, o->chunks);
                memmove(base_of(buffers, o->destination_buffer) + chunk_offset(layout, o->destination_chunk) * size,
                        source_of(buffers, &input, o, layout, size), (size_t)count * size);
                if (o->destination_buffer == 0) weft_input_written(&input, o->destination_chunk, o->chunks);
            } else if (is_shared(o->kind)) {
                rc = run_shared(o, layout, dtype, op, buffers, rank, ranks);
            }
        }
        scratch_used = 0;
        for (int64_t k = i; k < j && rc == WEFT_OK; k++) {
            const weft_schedule_op_t *o = &ops[k];
            if (o->kind != WEFT_OP_RECV_REDUCE) continue;
            int64_t count = chunk_elements(layout, o->destination_chunk, o->chunks);
            const char *incoming = (char *)buffers->scratch + scratch_used;
            if (o->destination_buffer == 0)
                weft_input_reduce(&input, o->destination_chunk, o->chunks, incoming, dtype, op);
            else
                weft_reduce(base_of(buffers, o->destination_buffer) + chunk_offset(layout, o->destination_chunk) * size,
                            incoming, count, dtype, op);
            scratch_used += count * (int64_t)size;
        }
        for (int64_t k = i; k < j && rc == WEFT_OK && held; k++) {
            if (ops[k].kind != WEFT_OP_PULL_SEND) continue;
            rc = weft_pull_wait_reader(comm, buffers, ops[k].peer, ops[k].step);
            if (rc == WEFT_ERR_TIMEOUT) unanswered = ops[k].peer;
        }
        if (rc != WEFT_OK) return rc;
        synced = 0;
        if (shared) {
            rc = weft_shared_barrier(buffers->shared_barrier, rank, ranks, total);
            synced = 1;
        }
        i = j;
    }
    if (rc == WEFT_OK) weft_input_materialize(&input, buffers->result_first_chunk, buffers->result_chunks);
    return rc;
}

// MARK: - Shared-memory barrier

typedef struct {
    _Alignas(64) _Atomic int64_t arrived;
    _Alignas(64) _Atomic int64_t generation;
    _Alignas(64) int64_t mismatch;
} barrier_header_t;

int64_t weft_shared_barrier_bytes(int ranks) { return (int64_t)sizeof(barrier_header_t) + 64 * (int64_t)ranks; }

int weft_shared_barrier(void *barrier, int rank, int ranks, int64_t count) {
    if (ranks == 1) return WEFT_OK;
    barrier_header_t *h = barrier;
    int64_t *counts = (int64_t *)((char *)barrier + sizeof(barrier_header_t));
    int64_t generation = atomic_load_explicit(&h->generation, memory_order_acquire);
    counts[rank * 8] = count;
    if (atomic_fetch_add_explicit(&h->arrived, 1, memory_order_acq_rel) == ranks - 1) {
        int64_t mismatch = 0;
        for (int r = 1; r < ranks; r++) mismatch |= counts[r * 8] != counts[0];
        h->mismatch = mismatch;
        atomic_store_explicit(&h->arrived, 0, memory_order_relaxed);
        atomic_store_explicit(&h->generation, generation + 1, memory_order_release);
    } else {
        double deadline = weft_deadline();
        unsigned spins = 0;
        while (atomic_load_explicit(&h->generation, memory_order_acquire) == generation) {
            int rc = weft_wait_tick(deadline, &spins);
            if (rc != WEFT_OK) return rc;
        }
    }
    return h->mismatch ? WEFT_ERR_COUNT_MISMATCH : WEFT_OK;
}
