// Definitions shared by the shim's C files; not part of the public header.
#ifndef CWEFT_INTERNAL_H
#define CWEFT_INTERNAL_H

#include <mpi.h>
#include "cweft.h"

/// A communicator is MPI-backed, or in-process ("local", local.c): one handle per rank, each
/// used by its own thread, over state the ranks share. Local handles never call MPI.
struct weft_comm {
    MPI_Comm comm;
    int owned; // freed by weft_comm_free (not MPI_COMM_WORLD)
    struct weft_local_group *local; // non-NULL: a local communicator
    int local_rank;
    struct weft_sockets *sockets; // Weft's own TCP connections across nodes (sockets.c), or NULL
};

/// A local receive (or an eagerly copied send, complete when posted).
struct weft_local_request {
    struct weft_local_group *group;
    struct weft_local_request *next; // in the destination's queue of posted receives
    char *buffer;
    int64_t capacity;
    int64_t received; // bytes the matching send carried
    int source, tag, done;
};

struct weft_request {
    MPI_Request request;
    struct weft_local_request local;
    int is_local;
};

struct weft_window {
    MPI_Win win;
    struct weft_local_window *local; // non-NULL: a window of a local communicator
};

// MARK: - Sockets across nodes (sockets.c)

/// One message of a step over Weft's own connection to `peer` (on another node).
struct weft_socket_transfer {
    char *address;
    int64_t bytes;
    int64_t done; // header and payload bytes moved so far
    int peer, send, step, finished;
    struct {
        uint32_t magic;
        int32_t step;
        int64_t bytes;
    } header; // a receive's header as it arrives
};

/// Whether messages to and from `peer` go over sockets (it is on another node and the
/// communicator opened them).
int weft_sockets_reach(const struct weft_sockets *sockets, int peer);
/// Runs a step's transfers to completion (connecting pairs on first use) within the
/// timeout; on failure `*unanswered` is the peer that did not answer or hung up. When the
/// step also has MPI messages, `progress` is their communicator (else MPI_COMM_NULL): the
/// wait then keeps MPI progressing and spins rather than sleeping in poll.
int weft_sockets_run(struct weft_sockets *sockets, struct weft_socket_transfer *transfers, int n, MPI_Comm progress,
                     int *unanswered);
void weft_sockets_close(struct weft_sockets *sockets);

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

// MARK: - The local transport (local.c): every entry point above dispatches to these when
// `comm->local` (or `window->local`, `request->is_local`) is set.

/// Posts a send (copied at once) or a receive matched by source, tag and communicator.
int weft_local_post(weft_comm_t comm, int send, void *buffer, int64_t bytes, int peer, int tag,
                    struct weft_local_request *request);
/// Waits for `n` requests of one communicator with the timeout; a timeout withdraws the
/// receives still posted. Checks received byte counts against `expected` like weft_wait_all.
int weft_local_wait_all(int n, struct weft_local_request *requests, const int64_t *expected);
int weft_local_barrier(weft_comm_t comm);
int weft_local_split(weft_comm_t comm, int color, int key, weft_comm_t *out);
/// Splits by emulated node (colour: the node, key: the rank).
int weft_local_split_shared(weft_comm_t comm, weft_comm_t *out);
int weft_local_comm_free(weft_comm_t comm);
int weft_local_size(weft_comm_t comm);
int weft_local_is_node_local(weft_comm_t comm);
int weft_local_node_keys(weft_comm_t comm, int32_t *keys);
int weft_local_host_names(weft_comm_t comm, char *names);

/// Window kinds for weft_local_window: the caller's memory, or allocated (shared or not).
enum { WEFT_LOCAL_CREATE = 0, WEFT_LOCAL_ALLOCATE = 1, WEFT_LOCAL_ALLOCATE_SHARED = 2 };
int weft_local_window(weft_comm_t comm, int kind, int64_t bytes, void **base, weft_window_t *out);
int weft_local_shared_query(weft_window_t window, int rank, void **base, int64_t *bytes);
/// put (write non-zero) or get as memcpy, bounds-checked against the target's window.
int weft_local_access(weft_window_t window, int write, void *local, int64_t bytes, int target, int64_t offset);
int weft_local_window_free(weft_window_t window);

/// The native collectives (weft_native_*) on a local communicator; `count` is elements, or
/// one block's for the block-wise ones. In place except alltoall (`input` to `output`).
typedef enum {
    WEFT_LOCAL_ALLREDUCE, WEFT_LOCAL_REDUCE_SCATTER, WEFT_LOCAL_ALLGATHER, WEFT_LOCAL_BROADCAST, WEFT_LOCAL_REDUCE,
    WEFT_LOCAL_ALLTOALL,
} weft_local_collective_t;
int weft_local_collective(weft_comm_t comm, weft_local_collective_t kind, const void *input, void *output,
                          int64_t count, weft_dtype_t dtype, weft_op_t op, int root);

/// A shared operation whose peers' segments live in other processes (cross_memory.c).
int weft_run_cross_memory(const weft_schedule_op_t *o, weft_layout_t layout, weft_dtype_t dtype, weft_op_t op,
                          const weft_buffers_t *buffers, int rank, int ranks);
/// Reads `bytes` at `remote` in process `pid` into `local` (process_vm_readv).
int weft_cross_memory_read(int32_t pid, void *local, uintptr_t remote, size_t bytes);

// MARK: - A separate input buffer (input.c): MPI's send buffer, read until first written

/// Which chunks of one execution's `data` still hold their value only in `input`.
typedef struct {
    const char *input; // NULL: no separate input (every query answers "not fresh")
    char *data;
    weft_layout_t layout;
    size_t size;
    uint8_t *fresh; // per chunk of the layout
    int64_t chunks;
} weft_input_t;

/// Starts tracking the input of `buffers` (nothing to do without one).
int weft_input_open(weft_input_t *in, const weft_buffers_t *buffers, weft_layout_t layout, weft_dtype_t dtype);
/// Whether every chunk of [first, first + n) is still only in the input (n > 0).
int weft_input_fresh(const weft_input_t *in, int64_t first, int64_t n);
/// Chunk `chunk` of the input.
const char *weft_input_chunk(const weft_input_t *in, int64_t chunk);
/// Copies the fresh chunks of [first, first + n) into `data`: they are no longer fresh.
/// Returns whether there were any.
int weft_input_materialize(weft_input_t *in, int64_t first, int64_t n);
/// Notes that [first, first + n) of `data` was written.
void weft_input_written(weft_input_t *in, int64_t first, int64_t n);
/// Reduces `incoming` into chunks [first, first + n) of `data`, starting from the input's
/// value where those chunks are fresh (one pass instead of a copy and a reduction).
void weft_input_reduce(weft_input_t *in, int64_t first, int64_t n, const void *incoming, weft_dtype_t dtype, weft_op_t op);

// MARK: - Pulls between ranks of one node (pull.c), inside programs that span nodes

/// Publishes this rank's buffers and element count, and that it has begun `step` of the
/// call (everything before it done): node-mates may now read chunks it sends in this step.
/// `data` is where node-mates find this step's chunks of buffer 0 (the data buffer, or the
/// input while the chunks read from it are still only there).
void weft_pull_enter(const weft_buffers_t *buffers, int rank, int step, int64_t count, const void *data);
/// Runs one pull (WEFT_OP_PULL_COPY or _REDUCE): waits until the sender has begun this
/// step, then reads its source chunks a cache-sized block at a time, each copied or reduced
/// into this rank's destination at once. On a timeout, *waited names the sender; a sender
/// that passed another element count is WEFT_ERR_COUNT_MISMATCH.
int weft_pull_receive(weft_comm_t comm, const weft_schedule_op_t *o, weft_layout_t layout, weft_dtype_t dtype, weft_op_t op,
                      const weft_buffers_t *buffers, weft_input_t *input, int *waited);
/// Publishes that this rank finished its pulls of `step`.
void weft_pull_done(const weft_buffers_t *buffers, int rank, int step);
/// Waits until `reader` finished its pulls of `step` (so the chunks it read may change).
int weft_pull_wait_reader(weft_comm_t comm, const weft_buffers_t *buffers, int reader, int step);

#endif
