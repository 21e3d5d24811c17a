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

#endif
