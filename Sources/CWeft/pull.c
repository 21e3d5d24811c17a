// Pulls: a transfer between two ranks of one node, inside a program that also crosses
// nodes (two-level's steps inside nodes), done as one read of the sender's own buffer by the receiver
// (cross-memory attach) instead of a message through MPI. The receiver reads a block at a
// time into cache-resident scratch and reduces it into its buffer at once, so a reduction
// reads the received data from cache rather than from a staged copy in memory. Where the
// sender's buffer lies in a registered segment this process maps (`pull_maps`), the
// receiver reads it with plain loads instead: no system call, no copy.
//
// Ordering, per pair and without barriers: each rank publishes, in its slot of the node's
// pull block, which step of which call it has begun (`entered`) and which step's pulls it
// has finished (`done`). A receiver pulls once the sender has entered the step; a sender
// leaves a step in which it was read only when the reader is done. The Swift side makes
// pulls only in steps where no rank writes a chunk it is read from (and none of the two
// talks across nodes), so reading during the step sees the buffer as it was when the step
// began — the executor's semantics.
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct {
    _Alignas(64) _Atomic int64_t entered;
    _Atomic int64_t done;
    uint64_t data;
    uint64_t output;
    int64_t count; // elements of the call, compared by readers (ranks must pass the same)
    uint64_t probe;
} pull_slot_t;

/// Larger than the system call's fixed cost, small enough to stay in L2 while reduced.
enum { PULL_BLOCK_BYTES = 128 << 10 };

int64_t weft_pull_control_bytes(int ranks) { return (int64_t)sizeof(pull_slot_t) * (ranks > 0 ? ranks : 1); }

uint64_t *weft_pull_probe_word(void *control, int slot) { return &((pull_slot_t *)control)[slot].probe; }

static pull_slot_t *slot_of(const weft_buffers_t *buffers, int rank) {
    int slot = buffers->pull_slots[rank];
    return slot < 0 ? NULL : &((pull_slot_t *)buffers->pull_control)[slot];
}

/// Position of (call, step) in the total order of a node's progress words.
static int64_t progress(const weft_buffers_t *buffers, int step) {
    return (buffers->pull_call << 24) | (int64_t)(step + 1);
}

/// Lets MPI move the step's messages (TCP needs the process to call in) while this rank
/// waits for or copies from a node-mate; MPI_Iprobe progresses without taking a message.
static void progress_messages(weft_comm_t comm) {
    if (comm->local) return;
    int flag = 0;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm->comm, &flag, MPI_STATUS_IGNORE);
}

static int wait_for(weft_comm_t comm, _Atomic int64_t *word, int64_t value) {
    double deadline = weft_deadline();
    unsigned spins = 0;
    while (atomic_load_explicit(word, memory_order_acquire) < value) {
        progress_messages(comm);
        int rc = weft_wait_tick(deadline, &spins);
        if (rc != WEFT_OK) return rc;
    }
    return WEFT_OK;
}

void weft_pull_enter(const weft_buffers_t *buffers, int rank, int step, int64_t count, const void *data) {
    pull_slot_t *own = slot_of(buffers, rank);
    own->data = (uint64_t)(uintptr_t)data;
    own->output = (uint64_t)(uintptr_t)buffers->output;
    own->count = count;
    atomic_store_explicit(&own->entered, progress(buffers, step), memory_order_release);
}

void weft_pull_done(const weft_buffers_t *buffers, int rank, int step) {
    atomic_store_explicit(&slot_of(buffers, rank)->done, progress(buffers, step), memory_order_release);
}

int weft_pull_wait_reader(weft_comm_t comm, const weft_buffers_t *buffers, int reader, int step) {
    pull_slot_t *slot = slot_of(buffers, reader);
    return slot ? wait_for(comm, &slot->done, progress(buffers, step)) : WEFT_ERR_ARGUMENT;
}

/// Where node-mate `rank`'s bytes [remote, remote + bytes) are mapped in this process, when
/// they lie in one of its registered segments; NULL otherwise.
static const char *mapped_source(const weft_buffers_t *buffers, int rank, uintptr_t remote, size_t bytes) {
    for (int64_t i = 0; i < buffers->pull_map_count; i++) {
        const weft_pull_map_t *m = &buffers->pull_maps[i];
        if (m->rank != rank || remote < m->remote || remote - m->remote > (uint64_t)m->bytes ||
            bytes > (uint64_t)m->bytes - (remote - m->remote))
            continue;
        return (const char *)m->mapped + (remote - m->remote);
    }
    return NULL;
}

static _Thread_local int64_t mapped_reads;
int64_t weft_pull_mapped_reads(void) { return mapped_reads; }

// Block scratch, per thread (one executing thread per rank).
static _Thread_local char *block;

int weft_pull_receive(weft_comm_t comm, const weft_schedule_op_t *o, weft_layout_t layout, weft_dtype_t dtype, weft_op_t op,
                      const weft_buffers_t *buffers, weft_input_t *input, int *waited) {
    pull_slot_t *sender = slot_of(buffers, o->peer);
    if (!sender) return WEFT_ERR_ARGUMENT;
    int rc = wait_for(comm, &sender->entered, progress(buffers, o->step));
    if (rc != WEFT_OK) {
        *waited = o->peer;
        return rc;
    }
    // The sender's chunks are where its own count puts them: a different count is an error,
    // as a message of the wrong length is.
    if (sender->count != layout.blocks * layout.block_count) return WEFT_ERR_COUNT_MISMATCH;
    size_t size = weft_dtype_size(dtype);
    int64_t count = chunk_elements(layout, o->source_chunk, o->chunks);
    if (count != chunk_elements(layout, o->destination_chunk, o->chunks)) return WEFT_ERR_ARGUMENT;
    uintptr_t remote = (uintptr_t)(o->source_buffer == 0 ? sender->data : sender->output) +
                       (uintptr_t)chunk_offset(layout, o->source_chunk) * size;
    char *local = (char *)(o->destination_buffer == 0 ? buffers->data : buffers->output) +
                  chunk_offset(layout, o->destination_chunk) * (int64_t)size;
    int32_t pid = buffers->pull_pids[o->peer];
    size_t bytes = (size_t)count * size;
    const char *mapped = mapped_source(buffers, o->peer, remote, bytes);
    mapped_reads += mapped != NULL;
    if (o->kind == WEFT_OP_PULL_REDUCE && !mapped && !block && !(block = malloc(PULL_BLOCK_BYTES))) return WEFT_ERR_NO_MEMORY;
    // Reducing into chunks still only in the input starts from the input's values.
    const char *first = NULL;
    if (o->kind == WEFT_OP_PULL_REDUCE && o->destination_buffer == 0) {
        if (weft_input_fresh(input, o->destination_chunk, o->chunks))
            first = weft_input_chunk(input, o->destination_chunk);
        else
            weft_input_materialize(input, o->destination_chunk, o->chunks);
    }
    size_t step = PULL_BLOCK_BYTES / size * size;
    for (size_t at = 0; at < bytes; at += step) {
        size_t n = bytes - at < step ? bytes - at : step;
        if (mapped && o->kind == WEFT_OP_PULL_COPY) {
            memcpy(local + at, mapped + at, n);
        } else if (mapped) {
            weft_reduce_pair(local + at, first ? first + at : local + at, mapped + at, (int64_t)(n / size), dtype, op);
        } else if (o->kind == WEFT_OP_PULL_COPY) {
            rc = weft_cross_memory_read(pid, local + at, remote + at, n);
        } else if ((rc = weft_cross_memory_read(pid, block, remote + at, n)) == WEFT_OK) {
            weft_reduce_pair(local + at, first ? first + at : local + at, block, (int64_t)(n / size), dtype, op);
        }
        if (rc != WEFT_OK) return rc;
        progress_messages(comm);
    }
    if (o->destination_buffer == 0) weft_input_written(input, o->destination_chunk, o->chunks);
    return WEFT_OK;
}
