// MPI's separate send buffer as a schedule's starting point. A schedule runs in place on
// one data buffer; MPI_Allreduce(send, recv) would first copy send into recv — a pass over
// the whole message that Open MPI's own algorithms do not pay. Instead each chunk of the
// data buffer is "fresh" until the schedule first writes it: sends and node-mates' pulls
// read it from the input, the first reduction into it reads the input and the incoming
// data in one pass, and only chunks never written that the caller reads are copied at the end.
#include <stdlib.h>
#include <string.h>

#include "internal.h"

// Per thread (one executing thread per rank), grown once.
static _Thread_local uint8_t *fresh_bits;
static _Thread_local int64_t fresh_capacity;

int weft_input_open(weft_input_t *in, const weft_buffers_t *buffers, weft_layout_t layout, weft_dtype_t dtype) {
    *in = (weft_input_t){.input = buffers->input, .data = buffers->data, .layout = layout,
                         .size = weft_dtype_size(dtype)};
    if (!in->input) return WEFT_OK;
    int64_t chunks = layout.blocks * layout.chunks_per_block;
    int64_t first = buffers->input_first_chunk, count = buffers->input_chunks;
    if (first < 0 || count < 0 || first + count > chunks || buffers->result_first_chunk < 0 ||
        buffers->result_chunks < 0 || buffers->result_first_chunk + buffers->result_chunks > chunks)
        return WEFT_ERR_ARGUMENT;
    if (chunks > fresh_capacity) {
        uint8_t *grown = realloc(fresh_bits, (size_t)chunks);
        if (!grown) return WEFT_ERR_NO_MEMORY;
        fresh_bits = grown;
        fresh_capacity = chunks;
    }
    memset(fresh_bits, 0, (size_t)chunks);
    memset(fresh_bits + first, 1, (size_t)count);
    in->fresh = fresh_bits;
    in->chunks = chunks;
    return WEFT_OK;
}

/// [first, first + n) clipped to the layout (a malformed op must not index past the bits).
static int clip(const weft_input_t *in, int64_t *first, int64_t *n) {
    if (!in->input || *n <= 0 || *first < 0 || *first >= in->chunks) return 0;
    if (*first + *n > in->chunks) *n = in->chunks - *first;
    return 1;
}

int weft_input_fresh(const weft_input_t *in, int64_t first, int64_t n) {
    if (!clip(in, &first, &n)) return 0;
    for (int64_t c = first; c < first + n; c++)
        if (!in->fresh[c]) return 0;
    return 1;
}

const char *weft_input_chunk(const weft_input_t *in, int64_t chunk) {
    return in->input + chunk_offset(in->layout, chunk) * (int64_t)in->size;
}

int weft_input_materialize(weft_input_t *in, int64_t first, int64_t n) {
    if (!clip(in, &first, &n)) return 0;
    int copied = 0;
    for (int64_t c = first; c < first + n;) {
        if (!in->fresh[c]) {
            c++;
            continue;
        }
        int64_t end = c;
        while (end < first + n && in->fresh[end]) in->fresh[end++] = 0;
        int64_t offset = chunk_offset(in->layout, c) * (int64_t)in->size;
        memcpy(in->data + offset, in->input + offset, (size_t)(chunk_elements(in->layout, c, end - c) * (int64_t)in->size));
        copied = 1;
        c = end;
    }
    return copied;
}

void weft_input_written(weft_input_t *in, int64_t first, int64_t n) {
    if (clip(in, &first, &n)) memset(in->fresh + first, 0, (size_t)n);
}

void weft_input_reduce(weft_input_t *in, int64_t first, int64_t n, const void *incoming, weft_dtype_t dtype, weft_op_t op) {
    char *destination = in->data + chunk_offset(in->layout, first) * (int64_t)in->size;
    int64_t count = chunk_elements(in->layout, first, n);
    if (weft_input_fresh(in, first, n)) {
        weft_reduce_pair(destination, weft_input_chunk(in, first), incoming, count, dtype, op);
        weft_input_written(in, first, n);
        return;
    }
    weft_input_materialize(in, first, n);
    weft_reduce(destination, incoming, count, dtype, op);
}
