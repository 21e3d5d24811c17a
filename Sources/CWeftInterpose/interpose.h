// Definitions shared by the interposition library's C files (not installed).
#ifndef WEFT_INTERPOSE_INTERNAL_H
#define WEFT_INTERPOSE_INTERNAL_H

#include <mpi.h>
#include <stdint.h>

#include "weft_interpose.h"

enum {
    WEFT_IP_MAX_RULES = 32,
    /// Returned by the run path when Weft cannot serve a call after all: forward it.
    WEFT_IP_FORWARD = 1 << 24,
};

/// What Weft knows about one of the program's communicators, cached as an MPI attribute
/// and released by the attribute's delete callback when the communicator is freed.
typedef struct weft_ip_state {
    MPI_Comm comm;   // the program's communicator (not owned)
    int id;          // creation order, for WEFT_VERBOSE
    int forward;     // every call goes to PMPI_* (intercommunicator, one rank, threads)
    int rank, size;
    int node_local;      // every rank on this node
    int cross_memory;    // peers' ordinary buffers reachable single-copy (and a control block)
    int world_congruent; // same ranks in the same order as MPI_COMM_WORLD
    weft_comm_t internal; // a private split: Weft's messages never meet the program's
    char *control;        // shared control block: barrier, then one slot per rank
    size_t control_bytes;
    int32_t *pids;
    int32_t *node_keys; // lowest rank on each rank's node
    /// Across nodes: the node's pull block (CWeft's pull.c), each rank's slot in it, and the
    /// scheduled calls so far (the same on every rank, so node-mates agree on a pull's call).
    int pulls;
    void *pull_control;
    size_t pull_bytes;
    int32_t *pull_slots;
    int64_t pull_calls;
    int sockets; // messages across nodes go over Weft's own TCP connections (CWeft's sockets.c)
    weft_ip_rule_t rules[WEFT_IP_COLLECTIVES][WEFT_IP_MAX_RULES];
    int nrules[WEFT_IP_COLLECTIVES];
    /// Per collective, the smallest size any rule runs on Weft (INT64_MAX: none); every
    /// call below it is forwarded, so it may skip classification (calls.c, quick_forward).
    int64_t weft_from[WEFT_IP_COLLECTIVES];
    void *temp; // private copies for schedules that need a writable whole buffer
    size_t temp_bytes;
    void *scratch; // the executor's reduce-receive scratch
    size_t scratch_bytes;
    /// The last program each collective ran, reused while algorithm, root and size repeat
    /// (a program loop calls the same collective again and again).
    struct {
        int valid, algorithm, root;
        int64_t bytes;
        weft_ip_program_t program;
    } last[WEFT_IP_COLLECTIVES];
    struct weft_ip_state *next, *previous;
} weft_ip_state_t;

/// One collective call, reduced to what Weft's algorithms need.
typedef struct {
    int collective;
    const char *send; // NULL when MPI_IN_PLACE
    char *recv;
    int64_t count;    // elements (allreduce, reduce, bcast) or per-rank block elements
    weft_dtype_t dtype;
    weft_op_t op;
    int root;
    int64_t bytes;    // the size `auto` decides on: whole message as `weft bench` counts it
    int mismatched;   // the program's send and receive sizes differ (erroneous): a served call fails
} weft_ip_request_t;

// Process-wide settings (init.c).
extern int weft_ip_active;       // between our MPI_Init and MPI_Finalize, configured
extern int weft_ip_forward_all;  // MPI_THREAD_MULTIPLE or mpi_f08 on some rank: every call native
extern int weft_ip_init_f08;     // this process started MPI through the mpi_f08 bindings (fortran.c)
extern int weft_ip_verbose;
extern MPI_Comm weft_ip_self;  // this process alone, errors returned: for argument probes (calls.c)
extern int weft_ip_world_rank;
extern int weft_ip_mpi;          // index of `mpi` in the algorithm list
extern int weft_ip_sockets;      // WEFT_ACROSS: this rank wants sockets between nodes

// state.c
/// The state of `comm`, created on first use (collective: every rank of `comm` is in the
/// same collective call when it happens). NULL before MPI_Init / after MPI_Finalize.
weft_ip_state_t *weft_ip_state(MPI_Comm comm);
int weft_ip_state_keyval_create(void);
/// Releases every state (before PMPI_Finalize).
void weft_ip_state_release_all(void);
int weft_ip_choose(const weft_ip_state_t *state, int collective, int64_t bytes);
/// The communicator looked up last and its state (state.c): a program calls collectives on
/// one communicator again and again.
extern MPI_Comm weft_ip_cached_comm;
extern weft_ip_state_t *weft_ip_cached_state;

// staging.c
/// A program's buffer of `count` items of a non-contiguous `type`, run on as packed bytes.
typedef struct {
    void *user;
    int64_t count;
    MPI_Datatype type;
    int in, out;  // pack it before the run (an input), unpack the result after it (an output)
    char **bind;  // the request's pointer that gets the packed bytes
    char *staged;
} weft_ip_view_t;
/// Allocates the packed copy, packs an input, and points *bind at it.
int weft_ip_view_open(weft_ip_view_t *view, MPI_Comm comm);
/// Unpacks an output (when `ran`: the collective succeeded) and frees the copy.
int weft_ip_view_close(weft_ip_view_t *view, MPI_Comm comm, int ran);

// run.c
/// Runs `request` with `algorithm` on `state`; WEFT_OK or a Weft/MPI error code.
int weft_ip_run(weft_ip_state_t *state, const weft_ip_request_t *request, int algorithm);

// report.c
void weft_ip_count(int collective, int64_t bytes, int algorithm);
/// Adds a call's transfers read from node-mates (pulls) to the report.
void weft_ip_count_pulls(int pulls);
void weft_ip_report_write(void);
void weft_ip_algorithm_label(int algorithm, char *name, int length);

#endif
