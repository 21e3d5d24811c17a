// Definitions shared by the shim's C files; not part of the public header.
#ifndef CWEFT_INTERNAL_H
#define CWEFT_INTERNAL_H

#include <mpi.h>
#include "cweft.h"

struct weft_comm {
    MPI_Comm comm;
    int owned; // freed by weft_comm_free (not MPI_COMM_WORLD)
};

struct weft_request {
    MPI_Request request;
};

struct weft_window {
    MPI_Win win;
};

/// Process-wide settings (set once from Swift before collectives run).
extern double weft_timeout_seconds;
extern int weft_yield_when_waiting;
extern int64_t weft_max_message_bytes;

/// Called inside every waiting loop: yields when oversubscribed, reports a timeout.
/// `deadline` is absolute (weft_wtime), <= 0 for none.
int weft_wait_tick(double deadline, unsigned *spins);
double weft_deadline(void);

/// Waits on `n` requests with the timeout; on success checks byte counts against
/// `expected` (when not NULL, -1 entries skipped).
int weft_wait_all(int n, MPI_Request *requests, const int64_t *expected);

/// Arms the watchdog (watchdog.c) around a blocking MPI call that has no timed form: past
/// the timeout the process prints one line naming `what` and exits, ending the job.
void weft_watch_begin(const char *what);
void weft_watch_end(void);
/// Runs one blocking MPI call under the watchdog and yields its return code.
#define WEFT_WATCHED(what, call) (weft_watch_begin(what), weft_watched_result = (call), weft_watch_end(), weft_watched_result)
static _Thread_local int weft_watched_result;

/// Chunk c of a layout starts at this element (see weft_layout_t).
static inline int64_t chunk_offset(weft_layout_t layout, int64_t chunk) {
    int64_t block = chunk / layout.chunks_per_block, sub = chunk % layout.chunks_per_block;
    return block * layout.block_count + (layout.block_count * sub) / layout.chunks_per_block;
}

static inline int64_t chunk_elements(weft_layout_t layout, int64_t start, int64_t count) {
    return chunk_offset(layout, start + count) - chunk_offset(layout, start);
}

/// A shared operation whose peers' segments live in other processes (cross_memory.c).
int weft_run_cross_memory(const weft_schedule_op_t *o, weft_layout_t layout, weft_dtype_t dtype, weft_op_t op,
                          const weft_buffers_t *buffers, int rank, int ranks);

#endif
