// CWeft: the thin C shim between Weft's Swift layers and Open MPI.
//
// It reads as an RDMA-like transport: a communicator is a set of peers, a window is
// registered memory, put/get are RDMA write/read, flush is completion, and shared windows
// give direct load/store between ranks of one node. It also owns the reduction kernels and
// the executor that runs a lowered collective schedule. No policy lives here: which
// algorithm to run is decided in Swift. Every function returns WEFT_OK or an error code;
// weft_error_string() turns any code (Weft's or MPI's) into text.
#ifndef CWEFT_H
#define CWEFT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// MARK: - Errors

enum {
    WEFT_OK = 0,
    WEFT_ERR_TIMEOUT = -1,        // a wait exceeded the collective timeout
    WEFT_ERR_COUNT_MISMATCH = -2, // a peer sent or declared a different element count
    WEFT_ERR_NOT_SHARED = -3,     // shared-memory operation on ranks that share no node
    WEFT_ERR_ARGUMENT = -4,       // invalid argument (null buffer, bad rank, bad kind)
    WEFT_ERR_NO_MEMORY = -5,
    WEFT_ERR_TOO_LARGE = -6,      // a native MPI call cannot express this element count
    WEFT_ERR_CROSS_MEMORY = -7,   // process_vm_readv/writev on a peer's memory failed
    WEFT_ERR_PEER_CLOSED = -8,    // a peer on another node closed its connection (it died or ended)
    WEFT_ERR_SOCKET = -9,         // a socket between nodes failed (no address to reach a peer, or a system error)
};

/// Writes a one-line description of `code` (Weft or MPI error class) into `buffer`.
void weft_error_string(int code, char *buffer, int length);

// MARK: - Environment

/// Initialises MPI (thread level FUNNELED) with errors returned, not aborted.
int weft_init(void);
int weft_finalize(void);
int weft_is_initialized(void);
int weft_is_finalized(void);
/// Kills every rank of the job; used after an unrecoverable collective error.
void weft_abort(int code);
/// Seconds since an arbitrary origin (the monotonic clock; needs no MPI).
double weft_wtime(void);
/// The FNV-1a offset basis: the fingerprint of nothing.
#define WEFT_FINGERPRINT_START 1469598103934665603ull
/// `hash` extended by `length` bytes (FNV-1a, 64 bits): deterministic in every process, so
/// ranks compare settings by fingerprint.
uint64_t weft_fingerprint(uint64_t hash, const void *bytes, size_t length);
/// Sets the timeout, in seconds, applied to every wait in this process (<= 0: none).
void weft_set_timeout(double seconds);
double weft_get_timeout(void);
/// When non-zero, waiting loops yield the CPU (oversubscribed runs).
void weft_set_yield(int yield);
/// The default for weft_set_yield, from the environment: yield when this node has more
/// ranks than cores (OMPI_COMM_WORLD_LOCAL_SIZE) or Open MPI was told to yield when idle
/// (OMPI_MCA_mpi_yield_when_idle, e.g. hosts that share cores) — else a rank spinning on a
/// node-mate would starve the rank it waits for.
int weft_yield_by_default(void);
/// Whether waits yield, from WEFT_YIELD (0 or 1; unset or empty: weft_yield_by_default()),
/// or -1 with the error line in `error` for any other value. One check for weft and
/// libweft-mpi.so, so both refuse the same values with the same line.
int weft_yield_setting(char *error, int length);
/// Whether this host has a device Open MPI reaches without TCP: a verbs device (InfiniBand,
/// RoCE, iWARP, Omni-Path, EFA) under /sys/class/infiniband or Slingshot's under /sys/class/cxi.
int weft_has_rdma_device(void);
/// Whether messages between nodes should go over Weft's own TCP connections (1) or Open
/// MPI's point-to-point (0), from WEFT_ACROSS (sockets or mpi; unset or empty: sockets where
/// weft_has_rdma_device() is 0 — NCCL's rule between its IB and socket transports), or -1
/// with the error line in `error` for any other value. One check for weft and libweft-mpi.so.
int weft_across_setting(char *error, int length);
/// Largest single MPI message in bytes; larger transfers are split. For tests of the
/// splitting path; the default is 1 GiB.
void weft_set_max_message_bytes(int64_t bytes);

// MARK: - Communicators

typedef struct weft_comm *weft_comm_t;

int weft_comm_world(weft_comm_t *out);
/// Wraps an existing MPI communicator (`*(MPI_Comm *)mpi_comm`); weft_comm_free frees it.
int weft_comm_adopt(const void *mpi_comm, weft_comm_t *out);
/// An in-process communicator of `ranks` ranks for tests (as gloo's tests run ranks as
/// threads): writes one handle per rank to out[0..<ranks], each to be used by its own
/// thread. `node_of_rank[r]` is the emulated node of rank r (NULL: all on node 0); it
/// drives split_shared, is_node_local, node_keys and host_names ("host-N"). Every entry
/// point works on these handles without MPI: messages are copied between threads, windows
/// are plain memory, the `mpi` collectives reduce in rank order (identical on every rank),
/// and waits honour the timeout. Freeing a local window does not wait for the others.
int weft_comm_local_create(int ranks, const int32_t *node_of_rank, weft_comm_t *out);
int weft_comm_dup(weft_comm_t comm, weft_comm_t *out);
/// MPI_Comm_split; a negative colour leaves the caller out (out is NULL).
int weft_comm_split(weft_comm_t comm, int color, int key, weft_comm_t *out);
/// Ranks that share a node (MPI_Comm_split_type with MPI_COMM_TYPE_SHARED).
int weft_comm_split_shared(weft_comm_t comm, weft_comm_t *out);
int weft_comm_free(weft_comm_t comm);
int weft_comm_rank(weft_comm_t comm);
int weft_comm_size(weft_comm_t comm);
/// Non-zero when every rank of `comm` is on this node, so shared windows span it.
int weft_comm_is_node_local(weft_comm_t comm);
int weft_barrier(weft_comm_t comm);
/// keys[r] = the lowest rank of `comm` on rank r's node (MPI_COMM_TYPE_SHARED): which
/// ranks share a node, for node-aware schedules. Collective; `keys` holds size entries.
int weft_comm_node_keys(weft_comm_t comm, int32_t *keys);
/// Bytes per name in `weft_comm_host_names` (longer names are cut, NUL-terminated).
#define WEFT_HOST_NAME_BYTES 256
/// names[r·WEFT_HOST_NAME_BYTES…] = rank r's host (MPI_Get_processor_name), for messages
/// that name hosts. Collective; `names` holds size·WEFT_HOST_NAME_BYTES bytes.
int weft_comm_host_names(weft_comm_t comm, char *names);
/// Has messages between ranks on different nodes go over Weft's own TCP connections
/// (sockets.c) instead of MPI point-to-point. Collective; `node_keys` as from
/// weft_comm_node_keys. `*opened` is 1 when every rank `wanted` them and could listen;
/// otherwise MPI point-to-point stays, on every rank alike.
int weft_comm_open_sockets(weft_comm_t comm, const int32_t *node_keys, int wanted, int *opened);

// MARK: - Point-to-point (non-blocking)

typedef struct weft_request *weft_request_t;

int weft_isend(weft_comm_t comm, const void *buffer, int64_t bytes, int peer, int tag, weft_request_t *out);
int weft_irecv(weft_comm_t comm, void *buffer, int64_t bytes, int peer, int tag, weft_request_t *out);
/// Waits (with the timeout) and frees the request; `received` gets the byte count (may be NULL).
int weft_wait(weft_request_t request, int64_t *received);

// MARK: - RMA windows: registered memory with RDMA write/read

typedef struct weft_window *weft_window_t;

/// Registers `bytes` of caller memory (MPI_Win_create); collective over `comm`.
int weft_window_create(weft_comm_t comm, void *base, int64_t bytes, weft_window_t *out);
/// Allocates and registers `bytes` (MPI_Win_allocate); collective.
int weft_window_allocate(weft_comm_t comm, int64_t bytes, void **base, weft_window_t *out);
/// Allocates a shared-memory window (MPI_Win_allocate_shared): every rank can load/store
/// every other rank's segment directly. `comm` must be node-local.
int weft_window_allocate_shared(weft_comm_t comm, int64_t bytes, void **base, weft_window_t *out);
/// Address of `rank`'s segment of a shared window in this process.
int weft_window_shared_query(weft_window_t window, int rank, void **base, int64_t *bytes);
/// RDMA write: copies `bytes` from `source` to `target`'s window at byte `offset`.
int weft_put(weft_window_t window, const void *source, int64_t bytes, int target, int64_t offset);
/// RDMA read: copies `bytes` from `target`'s window at byte `offset` into `destination`.
int weft_get(weft_window_t window, void *destination, int64_t bytes, int target, int64_t offset);
/// Completes every put/get to `target` (both at origin and target).
int weft_flush(weft_window_t window, int target);
int weft_flush_all(weft_window_t window);
/// Memory barrier for load/store access to a shared window (MPI_Win_sync).
int weft_window_sync(weft_window_t window);
/// Frees the window (collective) and, for allocated windows, its memory.
int weft_window_free(weft_window_t window);

// MARK: - Reduction kernels

/// WEFT_BYTE moves bytes only (broadcast, allgather, alltoall of any contiguous type); no kernel reduces it.
typedef enum { WEFT_F32 = 0, WEFT_F64 = 1, WEFT_I32 = 2, WEFT_I64 = 3, WEFT_BYTE = 4 } weft_dtype_t;
typedef enum { WEFT_SUM = 0, WEFT_PROD = 1, WEFT_MAX = 2, WEFT_MIN = 3, WEFT_AVG = 4 } weft_op_t;

size_t weft_dtype_size(weft_dtype_t dtype);
/// Kernels take buffers that are either the same or disjoint (partial overlap is undefined:
/// their loops are restrict-qualified so that they vectorise).
/// destination[i] = destination[i] op source[i]. AVG accumulates as SUM; see weft_divide.
void weft_reduce(void *destination, const void *source, int64_t count, weft_dtype_t dtype, weft_op_t op);
/// destination[i] = first[i] op second[i]; destination may alias first.
void weft_reduce_pair(void *destination, const void *first, const void *second, int64_t count, weft_dtype_t dtype,
                      weft_op_t op);
/// destination[i] = sources[0][i] op … op sources[n-1][i]; destination may alias sources[0].
void weft_reduce_many(void *destination, const void *const *sources, int n, int64_t count, weft_dtype_t dtype,
                      weft_op_t op);
/// buffer[i] /= divisor (integer division for integer types): finishes an AVG.
void weft_divide(void *buffer, int64_t count, weft_dtype_t dtype, int divisor);

// MARK: - Native MPI collectives (the `mpi` baseline), on the caller's buffers

/// In place on `buffer` (count elements); AVG is SUM then divide.
int weft_native_allreduce(weft_comm_t comm, void *buffer, int64_t count, weft_dtype_t dtype, weft_op_t op);
/// `buffer` holds size blocks of `block` elements; block `rank` ends reduced (in place).
int weft_native_reduce_scatter(weft_comm_t comm, void *buffer, int64_t block, weft_dtype_t dtype, weft_op_t op);
/// `buffer` holds size blocks of `block` elements; the caller's block is its contribution.
int weft_native_allgather(weft_comm_t comm, void *buffer, int64_t block, weft_dtype_t dtype);
int weft_native_broadcast(weft_comm_t comm, void *buffer, int64_t count, weft_dtype_t dtype, int root);
int weft_native_reduce(weft_comm_t comm, void *buffer, int64_t count, weft_dtype_t dtype, weft_op_t op, int root);
int weft_native_alltoall(weft_comm_t comm, const void *input, void *output, int64_t block, weft_dtype_t dtype);

// MARK: - Schedule executor

/// Kinds of lowered schedule operations (the Swift `Schedule` IR, seen from one rank).
typedef enum {
    WEFT_OP_SEND = 0,          // send source chunks to `peer`
    WEFT_OP_RECV_COPY = 1,     // receive from `peer` straight into destination chunks
    WEFT_OP_RECV_REDUCE = 2,   // receive from `peer` and reduce into destination chunks
    WEFT_OP_LOCAL_COPY = 3,    // copy own source chunks to own destination chunks
    WEFT_OP_SHARED_COPY = 4,   // load `peer`'s chunks from shared memory, store at `target`
    WEFT_OP_SHARED_REDUCE = 5, // reduce chunks of `peer` (-1: all ranks), store at `target` (-1: all)
    WEFT_OP_PULL_SEND = 6,     // a send that `peer` (on this node) reads itself: hold the chunks until it has
    WEFT_OP_PULL_COPY = 7,     // read `peer`'s (on this node) source chunks into destination chunks
    WEFT_OP_PULL_REDUCE = 8,   // read `peer`'s (on this node) source chunks and reduce into destination chunks
} weft_op_kind_t;

/// One operation of one rank. Chunks are ranges of a buffer's chunk layout (see below).
typedef struct {
    int32_t step;
    int32_t kind;
    int32_t peer;
    int32_t target;
    int32_t source_buffer;
    int32_t destination_buffer;
    int64_t source_chunk;
    int64_t destination_chunk;
    int64_t chunks;
} weft_schedule_op_t;

/// How chunks map to elements: a buffer is `blocks` blocks of `block_count` elements, each
/// block split into `chunks_per_block` balanced chunks. Chunk c covers elements
/// [offset(c), offset(c+1)) with offset(c) = (c / cpb) * block_count + block_count * (c % cpb) / cpb.
typedef struct {
    int64_t blocks;
    int64_t chunks_per_block;
    int64_t block_count;
} weft_layout_t;

/// A node-mate's registered segment (one rank's part of a node's shared window) as seen from
/// here: `remote` is where it sits in the owner's process (what the owner publishes for a
/// pull), `mapped` where this process maps the same memory.
typedef struct {
    int32_t rank;
    uint64_t remote;
    int64_t bytes;
    const void *mapped;
} weft_pull_map_t;

/// Buffers and shared segments one execution works on. For shared operations,
/// `shared_data[r]`/`shared_output[r]` are rank r's segments (NULL if not shared).
typedef struct {
    void *data;
    void *output;
    void *scratch;
    int64_t scratch_bytes;
    void *const *shared_data;
    void *const *shared_output;
    /// Shared-memory barrier state (from weft_shared_barrier_bytes of a shared window), or NULL.
    void *shared_barrier;
    /// Cross-memory attach: when not NULL, rank r's segments (r != this rank) are addresses in
    /// process remote_pids[r], read and written with process_vm_readv/writev — single-copy
    /// access to peers' ordinary buffers. NULL: every segment is mapped in this process.
    const int32_t *remote_pids;
    /// Non-zero when the caller ran a shared barrier just before (skips the entry barrier).
    int32_t entry_synced;
    /// Pulls (WEFT_OP_PULL_*) between ranks of one node, in a program that spans nodes: the
    /// node's pull block (weft_pull_control_bytes, zeroed, mapped by the node's ranks), each
    /// rank's slot in it (-1 off this node) and process id, by communicator rank, and this
    /// call's number (1, 2, … — the same on every rank of the node).
    void *pull_control;
    const int32_t *pull_slots;
    const int32_t *pull_pids;
    int64_t pull_call;
    /// Node-mates' registered segments mapped in this process (may be NULL): a pull whose
    /// source lies wholly in one reads it with plain loads, without a system call or a copy —
    /// the reduction reads the node-mate's memory directly.
    const weft_pull_map_t *pull_maps;
    int64_t pull_map_count;
    /// MPI's separate send buffer, or NULL. Chunks [input_first_chunk, +input_chunks) of
    /// `data` start out equal to the same chunks of `input` (a base such that chunk c sits at
    /// input + offset(c)) and are read from there until first written, so the caller need not
    /// copy its input into `data` first. Those still unwritten at the end that lie in
    /// [result_first_chunk, +result_chunks) — the part of `data` the caller reads — are
    /// copied in then. `input` is only read, also by node-mates' pulls.
    const void *input;
    int64_t input_first_chunk;
    int64_t input_chunks;
    int64_t result_first_chunk;
    int64_t result_chunks;
} weft_buffers_t;

/// Pulls this thread has read with plain loads from a node-mate's mapped registered segment
/// (`pull_maps`) rather than by cross-memory attach, since the process started.
int64_t weft_pull_mapped_reads(void);

/// Bytes of a pull block for a node of `ranks` ranks: one cache line per rank, where it
/// publishes its buffers and how far through the current call it is.
int64_t weft_pull_control_bytes(int ranks);
/// Slot `slot`'s probe word (used once, to check that node-mates can read each other).
uint64_t *weft_pull_probe_word(void *control, int slot);

/// Whether this process may read and write process `pid`'s memory with cross-memory attach
/// (probes `bytes` at `address` there; 1 yes, 0 no).
int weft_cross_memory_probe(int32_t pid, const void *address, int64_t bytes);

/// Bytes of a cross-memory control block for `ranks` ranks: a shared barrier, then one slot
/// per rank where it publishes the addresses of its buffers for the current call. Place it
/// in memory every rank maps (a shared window or POSIX shared memory), zeroed.
int64_t weft_cross_memory_control_bytes(int ranks);
/// Rank `rank`'s slot: [0] its data base, [1] its output base (addresses in its process).
uint64_t *weft_cross_memory_slot(void *control, int ranks, int rank);
/// Runs a program of shared operations (direct) single-copy on every rank's own buffers:
/// publishes `data` and `output` (bases such that chunk c sits at base + offset(c)), waits
/// for every rank's, then executes with peers' buffers read and written through
/// process_vm_readv/writev. `pids[r]` is rank r's process id. Collective over `comm`.
int weft_execute_cross_memory(weft_comm_t comm, const weft_schedule_op_t *ops, int64_t n, weft_layout_t layout,
                              weft_dtype_t dtype, weft_op_t op, void *control, const int32_t *pids, void *data,
                              void *output);

/// Scratch bytes the program needs for reduce-receives of one step (the largest step).
int64_t weft_program_scratch_bytes(const weft_schedule_op_t *ops, int64_t n, weft_layout_t layout, weft_dtype_t dtype);
/// Runs this rank's operations (sorted by step) on the buffers. Every rank of `comm`
/// must call it with its own program of the same schedule and the same layout.
int weft_execute(weft_comm_t comm, const weft_schedule_op_t *ops, int64_t n, weft_layout_t layout, weft_dtype_t dtype,
                 weft_op_t op, const weft_buffers_t *buffers);

/// After weft_execute returned WEFT_ERR_TIMEOUT or WEFT_ERR_PEER_CLOSED on this thread: the
/// rank it was still waiting for (a message not arrived, else a send not taken) or that hung
/// up, or -1; reading clears it.
int weft_timeout_peer(void);
/// The one-line reason for such a failure (`code`), naming `peer` and, when not empty, where
/// it runs (`where`: e.g. "host h2" or "world rank 3").
void weft_peer_failure_reason(int code, int peer, const char *where, char *buffer, int length);

/// Bytes of shared memory a shared barrier needs; place it in a shared window, zeroed.
int64_t weft_shared_barrier_bytes(int ranks);
/// A sense-reversing barrier over shared memory (much cheaper than MPI_Barrier on a node).
/// `count` is each rank's element count, compared across ranks (mismatch is an error).
int weft_shared_barrier(void *barrier, int rank, int ranks, int64_t count);

#ifdef __cplusplus
}
#endif
#endif
