// Runs one collective call of the program with a Weft schedule, on the program's own
// buffers. `direct` works single-copy on every rank's send and receive buffers through
// cross-memory attach; the message-passing schedules (ring, trees, …) run on the receive
// buffer over the private communicator, reading MPI's separate send buffer where it still
// holds a chunk's value rather than copying it in first.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interpose.h"

static int reserve(void **buffer, size_t *capacity, size_t bytes) {
    if (bytes <= *capacity) return WEFT_OK;
    void *grown = realloc(*buffer, bytes);
    if (!grown) return WEFT_ERR_NO_MEMORY;
    *buffer = grown;
    *capacity = bytes;
    return WEFT_OK;
}

static int fetch(weft_ip_state_t *s, const weft_ip_request_t *r, int algorithm, weft_ip_program_t *program) {
    __typeof__(s->last[0]) *last = &s->last[r->collective];
    if (last->valid && last->algorithm == algorithm && last->root == r->root && last->bytes == r->bytes) {
        *program = last->program;
        return WEFT_OK;
    }
    char error[512];
    if (weft_ip_program(r->collective, algorithm, s->size, s->rank, r->root, r->bytes, s->world_congruent,
                        s->node_keys, s->pulls, program, error, sizeof error) != 0) {
        // Deterministic on every rank (same inputs), so every rank forwards together.
        if (weft_ip_verbose && s->rank == 0) fprintf(stderr, "weft-mpi: forwarding to MPI: %s\n", error);
        return WEFT_IP_FORWARD;
    }
    last->valid = 1;
    last->algorithm = algorithm;
    last->root = r->root;
    last->bytes = r->bytes;
    last->program = *program;
    return WEFT_OK;
}

/// Single copy on peers' ordinary buffers: each rank publishes bases such that chunk c of
/// the schedule's layout sits at base + offset(c) (a receive buffer holding one block is
/// offset back by its block), and the one-step direct schedule reads every rank's input and
/// writes every rank's receive buffer directly; its closing barrier keeps the buffers alive
/// until every rank is done with them.
static int run_direct(weft_ip_state_t *s, const weft_ip_request_t *r, const weft_ip_program_t *p) {
    if (r->collective == WEFT_IP_BARRIER) return weft_shared_barrier(s->control, s->rank, s->size, 0);
    size_t size = weft_dtype_size(r->dtype);
    uintptr_t block_bytes = (uintptr_t)r->count * size;
    uintptr_t send = (uintptr_t)(r->send ? r->send : r->recv), recv = (uintptr_t)r->recv;
    uintptr_t data = send, output = recv;
    int retarget = 1; // the schedule writes its data buffer in place; we write the receive buffer
    switch (r->collective) {
    case WEFT_IP_REDUCE_SCATTER: output = recv - (uintptr_t)s->rank * block_bytes; break;
    case WEFT_IP_ALLGATHER: data = r->send ? send - (uintptr_t)s->rank * block_bytes : recv; break;
    case WEFT_IP_BROADCAST: data = recv; retarget = 0; break;
    case WEFT_IP_ALLTOALL: retarget = 0; break;
    default: break;
    }
    weft_schedule_op_t stack[8];
    weft_schedule_op_t *ops = p->count <= 8 ? stack : malloc(sizeof *ops * (size_t)p->count);
    if (!ops) return WEFT_ERR_NO_MEMORY;
    for (int64_t i = 0; i < p->count; i++) {
        ops[i] = p->ops[i];
        if (retarget) ops[i].destination_buffer = 1;
    }
    weft_layout_t layout = {p->blocks, p->chunks_per_block, r->count};
    int rc = weft_execute_cross_memory(s->internal, ops, p->count, layout, r->dtype, r->op, s->control, s->pids,
                                       (void *)data, (void *)output);
    if (ops != stack) free(ops);
    return rc;
}

/// A message-passing schedule on one whole buffer per rank. MPI's separate send buffer is
/// not copied in first: the executor reads each chunk from it until the schedule first
/// writes that chunk (weft_buffers_t's input). Across nodes, the transfers between
/// node-mates that the program marks read the sender's buffer (pulls).
static int run_messages(weft_ip_state_t *s, const weft_ip_request_t *r, const weft_ip_program_t *p) {
    int64_t call = s->pull_calls; // counted for every committed call (calls.c), 1, 2, …
    size_t size = weft_dtype_size(r->dtype);
    size_t block_bytes = (size_t)r->count * size, all_bytes = block_bytes * (size_t)s->size;
    int64_t chunks = p->blocks * p->chunks_per_block, own_block = (int64_t)s->rank * p->chunks_per_block;
    char *buffer = r->recv, *output = NULL;
    const char *input = r->send;
    int64_t input_first = 0, input_chunks = chunks, result_first = 0, result_chunks = chunks;
    int rc = WEFT_OK;
    switch (r->collective) {
    case WEFT_IP_REDUCE:
        if (s->rank != r->root) {
            // Other ranks' receive buffers are not theirs to write: reduce in a private buffer.
            if ((rc = reserve(&s->temp, &s->temp_bytes, block_bytes)) != WEFT_OK) return rc;
            buffer = s->temp;
            result_chunks = 0;
        }
        break;
    case WEFT_IP_REDUCE_SCATTER:
    case WEFT_IP_ALLTOALL:
        // The schedule works on all ranks' blocks; the receive buffer holds one (or the
        // alltoall's output). In place, the receive buffer is the input.
        if ((rc = reserve(&s->temp, &s->temp_bytes, all_bytes)) != WEFT_OK) return rc;
        buffer = s->temp;
        if (!input) input = r->recv;
        if (r->collective == WEFT_IP_ALLTOALL) {
            output = r->recv;
            result_chunks = 0;
        } else {
            result_first = own_block;
            result_chunks = p->chunks_per_block;
        }
        break;
    case WEFT_IP_ALLGATHER:
        // The send buffer is this rank's block of the receive buffer (a base address, as
        // run_direct computes it: never dereferenced outside the block).
        if (input) input = (const char *)((uintptr_t)input - (uintptr_t)s->rank * block_bytes);
        input_first = own_block;
        input_chunks = p->chunks_per_block;
        break;
    default: break;
    }
    if (input == buffer) input = NULL; // broadcast: one buffer
    weft_layout_t layout = {p->blocks, p->chunks_per_block, r->count};
    int64_t scratch = weft_program_scratch_bytes(p->ops, p->count, layout, r->dtype);
    if ((rc = reserve(&s->scratch, &s->scratch_bytes, (size_t)scratch)) != WEFT_OK) return rc;
    weft_buffers_t buffers = {
        .data = buffer, .output = output, .scratch = s->scratch, .scratch_bytes = (int64_t)s->scratch_bytes,
        .pull_control = s->pull_control, .pull_slots = s->pull_slots, .pull_pids = s->pids,
        .pull_call = call,
        .input = input, .input_first_chunk = input_first, .input_chunks = input_chunks,
        .result_first_chunk = result_first, .result_chunks = result_chunks,
    };
    weft_ip_count_pulls(p->pulls);
    rc = weft_execute(s->internal, p->ops, p->count, layout, r->dtype, r->op, &buffers);
    if (rc == WEFT_OK && r->collective == WEFT_IP_REDUCE_SCATTER)
        memcpy(r->recv, (char *)s->temp + (size_t)s->rank * block_bytes, block_bytes);
    return rc;
}

int weft_ip_run(weft_ip_state_t *s, const weft_ip_request_t *r, int algorithm) {
    weft_ip_program_t program;
    int rc = fetch(s, r, algorithm, &program);
    if (rc != WEFT_OK) return rc;
    if (program.shared) {
        if (!s->cross_memory) return WEFT_IP_FORWARD;
        // In place, a rank's result chunk would overwrite input a peer still reads.
        if (!r->send && (r->collective == WEFT_IP_REDUCE_SCATTER || r->collective == WEFT_IP_ALLTOALL))
            return WEFT_IP_FORWARD;
        return run_direct(s, r, &program);
    }
    if (!r->send && r->collective == WEFT_IP_ALLTOALL) return WEFT_IP_FORWARD;
    return run_messages(s, r, &program);
}
