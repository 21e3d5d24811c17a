// Cross-memory attach (Linux CMA): single-copy access to a peer process's ordinary memory
// with process_vm_readv/writev, as Open MPI's shared-memory transport does for large
// messages. A shared schedule operation (the `direct` algorithm) then runs on the peers'
// own buffers with no staging copy: remote sources are read a block at a time into
// cache-resident scratch and reduced, and the result is written once to each remote
// destination from the local copy.
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "internal.h"

/// Large enough that the system call's fixed cost (page pinning, ~1 µs) is amortised,
/// small enough that a block of every source stays in the L2 cache while it is reduced.
enum { REMOTE_BLOCK_BYTES = 128 << 10 };

static int transfer(int write, pid_t pid, char *local, uintptr_t remote, size_t bytes) {
    while (bytes > 0) {
        struct iovec here = {local, bytes}, there = {(void *)remote, bytes};
        ssize_t n = write ? process_vm_writev(pid, &here, 1, &there, 1, 0) : process_vm_readv(pid, &here, 1, &there, 1, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return WEFT_ERR_CROSS_MEMORY;
        local += n;
        remote += (uintptr_t)n;
        bytes -= (size_t)n;
    }
    return WEFT_OK;
}

int weft_cross_memory_read(int32_t pid, void *local, uintptr_t remote, size_t bytes) {
    return transfer(0, (pid_t)pid, local, remote, bytes);
}

int weft_cross_memory_probe(int32_t pid, const void *address, int64_t bytes) {
    char probe[64];
    size_t n = bytes < (int64_t)sizeof probe ? (size_t)bytes : sizeof probe;
    return transfer(0, (pid_t)pid, probe, (uintptr_t)address, n) == WEFT_OK;
}

// Scratch for one block of every remote source plus a home block; grown once and reused
// (per thread: the executor runs on one thread per rank).
static _Thread_local char *scratch;
static _Thread_local size_t scratch_capacity;

static char *reserve_scratch(size_t bytes) {
    if (bytes <= scratch_capacity) return scratch;
    char *grown = realloc(scratch, bytes);
    if (!grown) return NULL;
    scratch = grown;
    scratch_capacity = bytes;
    return scratch;
}

static uintptr_t segment(const weft_buffers_t *buffers, int32_t buffer, int rank) {
    void *const *bases = buffer == 0 ? buffers->shared_data : buffers->shared_output;
    return bases ? (uintptr_t)bases[rank] : 0;
}

int weft_run_cross_memory(const weft_schedule_op_t *o, weft_layout_t layout, weft_dtype_t dtype, weft_op_t op,
                          const weft_buffers_t *buffers, int rank, int ranks) {
    size_t size = weft_dtype_size(dtype);
    int64_t count = chunk_elements(layout, o->source_chunk, o->chunks);
    if (count != chunk_elements(layout, o->destination_chunk, o->chunks)) return WEFT_ERR_ARGUMENT;
    if (count == 0) return WEFT_OK;
    uintptr_t source_offset = (uintptr_t)chunk_offset(layout, o->source_chunk) * size;
    uintptr_t destination_offset = (uintptr_t)chunk_offset(layout, o->destination_chunk) * size;
    int first_target = o->target < 0 ? 0 : o->target, last_target = o->target < 0 ? ranks - 1 : o->target;
    int first_source = o->peer < 0 ? 0 : o->peer, last_source = o->peer < 0 ? ranks - 1 : o->peer;
    int nsources = last_source - first_source + 1;
    int is_target = rank >= first_target && rank <= last_target;
    if (o->kind != WEFT_OP_SHARED_REDUCE) nsources = 1; // a copy takes its first source
    if (nsources > 1024) return WEFT_ERR_ARGUMENT;
    const int32_t *pids = buffers->remote_pids;

    int64_t block = REMOTE_BLOCK_BYTES / (int64_t)size;
    size_t block_bytes = (size_t)block * size;
    char *temp = reserve_scratch(block_bytes * (size_t)(nsources + 1));
    if (!temp) return WEFT_ERR_NO_MEMORY;
    const void *sources[1024];
    char *own_destination = is_target ? (char *)segment(buffers, o->destination_buffer, rank) + destination_offset : NULL;
    if (is_target && !segment(buffers, o->destination_buffer, rank)) return WEFT_ERR_NOT_SHARED;

    for (int64_t start = 0; start < count; start += block) {
        int64_t m = count - start < block ? count - start : block;
        size_t at = (size_t)start * size, bytes = (size_t)m * size;
        char *home = is_target ? own_destination + at : temp + block_bytes * (size_t)nsources;
        int rc = WEFT_OK;
        if (o->kind == WEFT_OP_SHARED_REDUCE) {
            int k = 0;
            for (int r = first_source; r <= last_source; r++) {
                uintptr_t base = segment(buffers, o->source_buffer, r);
                if (!base) return WEFT_ERR_NOT_SHARED;
                char *s;
                if (r == rank) {
                    s = (char *)base + source_offset + at;
                } else {
                    s = temp + block_bytes * (size_t)k;
                    if ((rc = transfer(0, pids[r], s, base + source_offset + at, bytes)) != WEFT_OK) return rc;
                }
                // The kernel reduces into its first operand: a source aliasing home goes first.
                if (s == home && k > 0) {
                    sources[k] = sources[0];
                    sources[0] = s;
                } else {
                    sources[k] = s;
                }
                k++;
            }
            weft_reduce_many(home, sources, nsources, m, dtype, op);
        } else {
            uintptr_t base = segment(buffers, o->source_buffer, first_source);
            if (!base) return WEFT_ERR_NOT_SHARED;
            if (first_source == rank) {
                if ((char *)base + source_offset + at != home) memmove(home, (char *)base + source_offset + at, bytes);
            } else if ((rc = transfer(0, pids[first_source], home, base + source_offset + at, bytes)) != WEFT_OK) {
                return rc;
            }
        }
        for (int t = first_target; t <= last_target; t++) {
            if (t == rank) continue;
            uintptr_t base = segment(buffers, o->destination_buffer, t);
            if (!base) return WEFT_ERR_NOT_SHARED;
            if ((rc = transfer(1, pids[t], home, base + destination_offset + at, bytes)) != WEFT_OK) return rc;
        }
    }
    return WEFT_OK;
}

// MARK: - Control block and execution on peers' own buffers

static int64_t barrier_bytes(int ranks) { return (weft_shared_barrier_bytes(ranks) + 63) & ~(int64_t)63; }

int64_t weft_cross_memory_control_bytes(int ranks) { return barrier_bytes(ranks) + 64 * (int64_t)ranks; }

uint64_t *weft_cross_memory_slot(void *control, int ranks, int rank) {
    return (uint64_t *)((char *)control + barrier_bytes(ranks) + 64 * (int64_t)rank);
}

int weft_execute_cross_memory(weft_comm_t comm, const weft_schedule_op_t *ops, int64_t n, weft_layout_t layout,
                              weft_dtype_t dtype, weft_op_t op, void *control, const int32_t *pids, void *data,
                              void *output) {
    int rank = weft_comm_rank(comm), ranks = weft_comm_size(comm);
    uint64_t *own = weft_cross_memory_slot(control, ranks, rank);
    own[0] = (uint64_t)(uintptr_t)data;
    own[1] = (uint64_t)(uintptr_t)output;
    // The barrier publishes the slots (and checks that every rank passed the same count).
    int rc = weft_shared_barrier(control, rank, ranks, layout.blocks * layout.block_count);
    if (rc != WEFT_OK || n == 0) return rc;
    void *stack[128];
    void **bases = ranks <= 64 ? stack : malloc(sizeof(void *) * 2 * (size_t)ranks);
    if (!bases) return WEFT_ERR_NO_MEMORY;
    for (int r = 0; r < ranks; r++) {
        uint64_t *slot = weft_cross_memory_slot(control, ranks, r);
        bases[r] = (void *)(uintptr_t)slot[0];
        bases[ranks + r] = (void *)(uintptr_t)slot[1];
    }
    // On a local communicator every pid is this process's: process_vm_readv/writev then
    // read and write this address space, so the same code runs in the in-process tests.
    weft_buffers_t buffers = {
        .data = data, .output = output, .shared_data = bases, .shared_output = bases + ranks,
        .shared_barrier = control, .remote_pids = pids, .entry_synced = 1,
    };
    rc = weft_execute(comm, ops, n, layout, dtype, op, &buffers);
    if (bases != stack) free(bases);
    return rc;
}
