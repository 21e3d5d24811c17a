// MPI start-up, errors, communicators, point-to-point and RMA windows.
#include <dirent.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

double weft_timeout_seconds = 60.0;
int weft_yield_when_waiting = 0;
int64_t weft_max_message_bytes = (int64_t)1 << 30;

void weft_set_timeout(double seconds) { weft_timeout_seconds = seconds; }
double weft_get_timeout(void) { return weft_timeout_seconds; }
void weft_set_yield(int yield) { weft_yield_when_waiting = yield; }

int weft_yield_by_default(void) {
    const char *local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    if (local && atol(local) > sysconf(_SC_NPROCESSORS_ONLN)) return 1;
    const char *mpi = getenv("OMPI_MCA_mpi_yield_when_idle");
    return mpi && (!strcmp(mpi, "1") || !strcasecmp(mpi, "true") || !strcasecmp(mpi, "yes") || !strcasecmp(mpi, "enabled"));
}
int weft_yield_setting(char *error, int length) {
    const char *text = getenv("WEFT_YIELD");
    if (!text || !*text) return weft_yield_by_default();
    if (!strcmp(text, "0") || !strcmp(text, "1")) return text[0] == '1';
    snprintf(error, (size_t)length,
             "WEFT_YIELD='%s' is not 0 (spin while waiting) or 1 (yield the core while waiting); unset, Weft yields "
             "where a node has more ranks than cores or Open MPI yields when idle",
             text);
    return -1;
}

int weft_has_rdma_device(void) {
    static const char *const folders[] = {"/sys/class/infiniband", "/sys/class/cxi"};
    for (size_t i = 0; i < sizeof folders / sizeof folders[0]; i++) {
        DIR *d = opendir(folders[i]);
        if (!d) continue;
        struct dirent *e;
        int found = 0;
        while (!found && (e = readdir(d))) found = e->d_name[0] != '.';
        closedir(d);
        if (found) return 1;
    }
    return 0;
}

int weft_across_setting(char *error, int length) {
    const char *text = getenv("WEFT_ACROSS");
    if (!text || !*text) return !weft_has_rdma_device();
    if (!strcmp(text, "sockets") || !strcmp(text, "mpi")) return text[0] == 's';
    snprintf(error, (size_t)length,
             "WEFT_ACROSS='%s' is not sockets (Weft's own TCP connections between nodes) or mpi (Open MPI's "
             "point-to-point); unset, Weft uses sockets where this host has no RDMA device",
             text);
    return -1;
}

void weft_set_max_message_bytes(int64_t bytes) { weft_max_message_bytes = bytes > 0 ? bytes : ((int64_t)1 << 30); }

double weft_wtime(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

double weft_deadline(void) { return weft_timeout_seconds > 0 ? weft_wtime() + weft_timeout_seconds : 0; }

uint64_t weft_fingerprint(uint64_t hash, const void *bytes, size_t length) {
    for (size_t i = 0; i < length; i++) hash = (hash ^ ((const unsigned char *)bytes)[i]) * 1099511628211ull;
    return hash;
}

int weft_wait_tick(double deadline, unsigned *spins) {
    *spins += 1;
    if (weft_yield_when_waiting) sched_yield();
    if (deadline > 0 && (*spins & 255) == 0 && weft_wtime() > deadline) return WEFT_ERR_TIMEOUT;
    return WEFT_OK;
}

void weft_error_string(int code, char *buffer, int length) {
    const char *text = NULL;
    switch (code) {
    case WEFT_OK: text = "success"; break;
    case WEFT_ERR_TIMEOUT: text = "timed out waiting for a peer (a rank died, hangs, or ranks called different collectives)"; break;
    case WEFT_ERR_COUNT_MISMATCH: text = "ranks passed different element counts to the same collective"; break;
    case WEFT_ERR_NOT_SHARED: text = "shared-memory operation needs every rank on one node"; break;
    case WEFT_ERR_ARGUMENT: text = "invalid argument"; break;
    case WEFT_ERR_NO_MEMORY: text = "out of memory"; break;
    case WEFT_ERR_TOO_LARGE: text = "element count too large for a native MPI call (more than 2^31-1 per block)"; break;
    case WEFT_ERR_CROSS_MEMORY: text = "cross-memory attach to a peer process failed (process_vm_readv/writev)"; break;
    case WEFT_ERR_PEER_CLOSED: text = "a rank on another node closed its connection: it died or ended"; break;
    case WEFT_ERR_SOCKET: text = "a connection to a rank on another node failed (no address reached it, or a system error)"; break;
    default: break;
    }
    if (text) {
        snprintf(buffer, (size_t)length, "%s", text);
        return;
    }
    char mpi[MPI_MAX_ERROR_STRING];
    int n = 0;
    if (MPI_Error_string(code, mpi, &n) != MPI_SUCCESS) snprintf(mpi, sizeof mpi, "MPI error %d", code);
    snprintf(buffer, (size_t)length, "%s", mpi);
}

int weft_init(void) {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
        int provided = 0;
        int rc = PMPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS) return rc;
    }
    return MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
}

int weft_finalize(void) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    return finalized ? MPI_SUCCESS : WEFT_WATCHED("MPI_Finalize", PMPI_Finalize());
}

int weft_is_initialized(void) {
    int flag = 0;
    MPI_Initialized(&flag);
    return flag;
}

int weft_is_finalized(void) {
    int flag = 0;
    MPI_Finalized(&flag);
    return flag;
}

void weft_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

static int wrap_comm(MPI_Comm comm, int owned, weft_comm_t *out) {
    struct weft_comm *c = calloc(1, sizeof *c);
    if (!c) return WEFT_ERR_NO_MEMORY;
    c->comm = comm;
    c->owned = owned;
    c->local = NULL;
    if (comm != MPI_COMM_NULL) MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
    *out = c;
    return WEFT_OK;
}

int weft_comm_world(weft_comm_t *out) { return wrap_comm(MPI_COMM_WORLD, 0, out); }

int weft_comm_adopt(const void *mpi_comm, weft_comm_t *out) { return wrap_comm(*(const MPI_Comm *)mpi_comm, 1, out); }

int weft_comm_dup(weft_comm_t comm, weft_comm_t *out) {
    if (comm->local) return weft_local_split(comm, 0, comm->local_rank, out);
    MPI_Comm dup;
    int rc = WEFT_WATCHED("MPI_Comm_dup", MPI_Comm_dup(comm->comm, &dup));
    return rc != MPI_SUCCESS ? rc : wrap_comm(dup, 1, out);
}

int weft_comm_split(weft_comm_t comm, int color, int key, weft_comm_t *out) {
    if (comm->local) return weft_local_split(comm, color, key, out);
    MPI_Comm split;
    int rc = WEFT_WATCHED("MPI_Comm_split", MPI_Comm_split(comm->comm, color < 0 ? MPI_UNDEFINED : color, key, &split));
    if (rc != MPI_SUCCESS) return rc;
    if (split == MPI_COMM_NULL) {
        *out = NULL;
        return WEFT_OK;
    }
    return wrap_comm(split, 1, out);
}

int weft_comm_split_shared(weft_comm_t comm, weft_comm_t *out) {
    if (comm->local) return weft_local_split_shared(comm, out);
    MPI_Comm split;
    int rank;
    MPI_Comm_rank(comm->comm, &rank);
    int rc = WEFT_WATCHED("MPI_Comm_split_type", MPI_Comm_split_type(comm->comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &split));
    return rc != MPI_SUCCESS ? rc : wrap_comm(split, 1, out);
}

int weft_comm_free(weft_comm_t comm) {
    if (!comm) return WEFT_OK;
    if (comm->local) return weft_local_comm_free(comm);
    weft_sockets_close(comm->sockets);
    int rc = MPI_SUCCESS;
    if (comm->owned && !weft_is_finalized()) rc = PMPI_Comm_free(&comm->comm);
    free(comm);
    return rc;
}

int weft_comm_rank(weft_comm_t comm) {
    if (comm->local) return comm->local_rank;
    int r = 0;
    MPI_Comm_rank(comm->comm, &r);
    return r;
}

int weft_comm_size(weft_comm_t comm) {
    if (comm->local) return weft_local_size(comm);
    int s = 0;
    MPI_Comm_size(comm->comm, &s);
    return s;
}

int weft_comm_is_node_local(weft_comm_t comm) {
    if (comm->local) return weft_local_is_node_local(comm);
    MPI_Comm node;
    int rank, size, node_size = 0;
    MPI_Comm_rank(comm->comm, &rank);
    MPI_Comm_size(comm->comm, &size);
    if (WEFT_WATCHED("MPI_Comm_split_type", MPI_Comm_split_type(comm->comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node)) != MPI_SUCCESS) return 0;
    MPI_Comm_size(node, &node_size);
    PMPI_Comm_free(&node);
    int local = node_size == size, all = 0;
    WEFT_WATCHED("MPI_Allreduce", PMPI_Allreduce(&local, &all, 1, MPI_INT, MPI_LAND, comm->comm));
    return all;
}

int weft_comm_node_keys(weft_comm_t comm, int32_t *keys) {
    if (comm->local) return weft_local_node_keys(comm, keys);
    MPI_Comm node;
    int rank = 0, rc;
    MPI_Comm_rank(comm->comm, &rank);
    rc = WEFT_WATCHED("MPI_Comm_split_type", MPI_Comm_split_type(comm->comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node));
    if (rc != MPI_SUCCESS) return rc;
    int32_t mine = rank, leader = rank;
    rc = WEFT_WATCHED("MPI_Allreduce", PMPI_Allreduce(&mine, &leader, 1, MPI_INT32_T, MPI_MIN, node));
    PMPI_Comm_free(&node);
    if (rc != MPI_SUCCESS) return rc;
    return WEFT_WATCHED("MPI_Allgather", PMPI_Allgather(&leader, 1, MPI_INT32_T, keys, 1, MPI_INT32_T, comm->comm));
}

int weft_comm_host_names(weft_comm_t comm, char *names) {
    if (comm->local) return weft_local_host_names(comm, names);
    char mine[MPI_MAX_PROCESSOR_NAME + 1] = {0}, padded[WEFT_HOST_NAME_BYTES] = {0};
    int length = 0;
    int rc = MPI_Get_processor_name(mine, &length);
    if (rc != MPI_SUCCESS) return rc;
    snprintf(padded, sizeof padded, "%s", mine);
    return WEFT_WATCHED("MPI_Allgather", PMPI_Allgather(padded, WEFT_HOST_NAME_BYTES, MPI_CHAR, names,
                                                        WEFT_HOST_NAME_BYTES, MPI_CHAR, comm->comm));
}

int weft_barrier(weft_comm_t comm) {
    if (comm->local) return weft_local_barrier(comm);
    MPI_Request request;
    int rc = MPI_Ibarrier(comm->comm, &request);
    return rc != MPI_SUCCESS ? rc : weft_wait_all(1, &request, NULL);
}

int weft_wait_all(int n, MPI_Request *requests, const int64_t *expected) {
    if (n == 0) return WEFT_OK;
    MPI_Status stack_statuses[64];
    MPI_Status *statuses = n <= 64 ? stack_statuses : malloc(sizeof(MPI_Status) * (size_t)n);
    if (!statuses) return WEFT_ERR_NO_MEMORY;
    double deadline = weft_deadline();
    unsigned spins = 0;
    int rc = WEFT_OK;
    for (;;) {
        int done = 0;
        int mpi = MPI_Testall(n, requests, &done, statuses);
        if (mpi != MPI_SUCCESS) {
            rc = mpi;
            if (mpi == MPI_ERR_IN_STATUS)
                for (int i = 0; i < n; i++)
                    if (statuses[i].MPI_ERROR != MPI_SUCCESS && statuses[i].MPI_ERROR != MPI_ERR_PENDING) {
                        rc = statuses[i].MPI_ERROR;
                        break;
                    }
            break;
        }
        if (done) break;
        if ((rc = weft_wait_tick(deadline, &spins)) != WEFT_OK) break;
    }
    if (rc == WEFT_OK && expected) {
        for (int i = 0; i < n; i++) {
            if (expected[i] < 0) continue;
            int bytes = 0;
            MPI_Get_count(&statuses[i], MPI_BYTE, &bytes);
            if ((int64_t)bytes != expected[i]) {
                rc = WEFT_ERR_COUNT_MISMATCH;
                break;
            }
        }
    }
    if (statuses != stack_statuses) free(statuses);
    return rc;
}

// Point-to-point transfers larger than one MPI message are not split here: the public
// calls take counts that fit an int (checked) and the executor splits large transfers.
int weft_isend(weft_comm_t comm, const void *buffer, int64_t bytes, int peer, int tag, weft_request_t *out) {
    if (bytes < 0 || bytes > INT32_MAX) return WEFT_ERR_TOO_LARGE;
    struct weft_request *r = malloc(sizeof *r);
    if (!r) return WEFT_ERR_NO_MEMORY;
    r->is_local = comm->local != NULL;
    int rc = r->is_local ? weft_local_post(comm, 1, (void *)buffer, bytes, peer, tag, &r->local)
                         : MPI_Isend(buffer, (int)bytes, MPI_BYTE, peer, tag, comm->comm, &r->request);
    if (rc != MPI_SUCCESS) {
        free(r);
        return rc;
    }
    *out = r;
    return WEFT_OK;
}

int weft_irecv(weft_comm_t comm, void *buffer, int64_t bytes, int peer, int tag, weft_request_t *out) {
    if (bytes < 0 || bytes > INT32_MAX) return WEFT_ERR_TOO_LARGE;
    struct weft_request *r = malloc(sizeof *r);
    if (!r) return WEFT_ERR_NO_MEMORY;
    r->is_local = comm->local != NULL;
    int rc = r->is_local ? weft_local_post(comm, 0, buffer, bytes, peer, tag, &r->local)
                         : MPI_Irecv(buffer, (int)bytes, MPI_BYTE, peer, tag, comm->comm, &r->request);
    if (rc != MPI_SUCCESS) {
        free(r);
        return rc;
    }
    *out = r;
    return WEFT_OK;
}

int weft_wait(weft_request_t request, int64_t *received) {
    if (request->is_local) {
        int rc = weft_local_wait_all(1, &request->local, NULL);
        if (rc == WEFT_OK && received) *received = request->local.received;
        if (rc == WEFT_OK) free(request);
        return rc;
    }
    double deadline = weft_deadline();
    unsigned spins = 0;
    MPI_Status status;
    int rc = WEFT_OK;
    for (;;) {
        int done = 0;
        int mpi = MPI_Test(&request->request, &done, &status);
        if (mpi != MPI_SUCCESS) {
            rc = mpi;
            break;
        }
        if (done) break;
        if ((rc = weft_wait_tick(deadline, &spins)) != WEFT_OK) break;
    }
    if (rc == WEFT_OK && received) {
        int bytes = 0;
        MPI_Get_count(&status, MPI_BYTE, &bytes);
        *received = bytes;
    }
    if (rc == WEFT_OK) free(request);
    return rc;
}

// MARK: - Windows. Passive-target epochs (lock_all) stay open for the window's life, so
// put/get/flush behave like RDMA verbs on registered memory.

static int wrap_window(MPI_Win win, weft_window_t *out) {
    struct weft_window *w = malloc(sizeof *w);
    if (!w) return WEFT_ERR_NO_MEMORY;
    w->win = win;
    w->local = NULL;
    MPI_Win_set_errhandler(win, MPI_ERRORS_RETURN);
    int rc = MPI_Win_lock_all(MPI_MODE_NOCHECK, win);
    if (rc != MPI_SUCCESS) {
        MPI_Win_free(&w->win);
        free(w);
        return rc;
    }
    *out = w;
    return WEFT_OK;
}

int weft_window_create(weft_comm_t comm, void *base, int64_t bytes, weft_window_t *out) {
    if (comm->local) return weft_local_window(comm, WEFT_LOCAL_CREATE, bytes, &base, out);
    MPI_Win win;
    int rc = WEFT_WATCHED("MPI_Win_create", MPI_Win_create(base, (MPI_Aint)bytes, 1, MPI_INFO_NULL, comm->comm, &win));
    return rc != MPI_SUCCESS ? rc : wrap_window(win, out);
}

int weft_window_allocate(weft_comm_t comm, int64_t bytes, void **base, weft_window_t *out) {
    if (comm->local) return weft_local_window(comm, WEFT_LOCAL_ALLOCATE, bytes, base, out);
    MPI_Win win;
    int rc = WEFT_WATCHED("MPI_Win_allocate", MPI_Win_allocate((MPI_Aint)bytes, 1, MPI_INFO_NULL, comm->comm, base, &win));
    return rc != MPI_SUCCESS ? rc : wrap_window(win, out);
}

int weft_window_allocate_shared(weft_comm_t comm, int64_t bytes, void **base, weft_window_t *out) {
    if (comm->local) return weft_local_window(comm, WEFT_LOCAL_ALLOCATE_SHARED, bytes, base, out);
    if (!weft_comm_is_node_local(comm)) return WEFT_ERR_NOT_SHARED;
    MPI_Win win;
    MPI_Info info;
    MPI_Info_create(&info);
    // Each segment page-aligned on its own: avoids false sharing between ranks.
    MPI_Info_set(info, "alloc_shared_noncontig", "true");
    int rc = WEFT_WATCHED("MPI_Win_allocate_shared", MPI_Win_allocate_shared((MPI_Aint)bytes, 1, info, comm->comm, base, &win));
    MPI_Info_free(&info);
    return rc != MPI_SUCCESS ? rc : wrap_window(win, out);
}

int weft_window_shared_query(weft_window_t window, int rank, void **base, int64_t *bytes) {
    if (window->local) return weft_local_shared_query(window, rank, base, bytes);
    MPI_Aint size = 0;
    int unit = 0;
    int rc = MPI_Win_shared_query(window->win, rank, &size, &unit, base);
    if (bytes) *bytes = (int64_t)size;
    return rc;
}

int weft_put(weft_window_t window, const void *source, int64_t bytes, int target, int64_t offset) {
    if (window->local) return weft_local_access(window, 1, (void *)source, bytes, target, offset);
    const char *s = source;
    while (bytes > 0) {
        int64_t n = bytes < weft_max_message_bytes ? bytes : weft_max_message_bytes;
        int rc = MPI_Put(s, (int)n, MPI_BYTE, target, (MPI_Aint)offset, (int)n, MPI_BYTE, window->win);
        if (rc != MPI_SUCCESS) return rc;
        s += n;
        offset += n;
        bytes -= n;
    }
    return WEFT_OK;
}

int weft_get(weft_window_t window, void *destination, int64_t bytes, int target, int64_t offset) {
    if (window->local) return weft_local_access(window, 0, destination, bytes, target, offset);
    char *d = destination;
    while (bytes > 0) {
        int64_t n = bytes < weft_max_message_bytes ? bytes : weft_max_message_bytes;
        int rc = MPI_Get(d, (int)n, MPI_BYTE, target, (MPI_Aint)offset, (int)n, MPI_BYTE, window->win);
        if (rc != MPI_SUCCESS) return rc;
        d += n;
        offset += n;
        bytes -= n;
    }
    return WEFT_OK;
}

// Local windows are plain memory: completion is a memory fence.
static int fence(void) {
    atomic_thread_fence(memory_order_seq_cst);
    return WEFT_OK;
}

int weft_flush(weft_window_t window, int target) { return window->local ? fence() : MPI_Win_flush(target, window->win); }
int weft_flush_all(weft_window_t window) { return window->local ? fence() : MPI_Win_flush_all(window->win); }
int weft_window_sync(weft_window_t window) { return window->local ? fence() : MPI_Win_sync(window->win); }

int weft_window_free(weft_window_t window) {
    if (!window) return WEFT_OK;
    if (window->local) return weft_local_window_free(window);
    int rc = MPI_SUCCESS;
    if (!weft_is_finalized()) {
        MPI_Win_unlock_all(window->win);
        rc = WEFT_WATCHED("MPI_Win_free", MPI_Win_free(&window->win));
    }
    free(window);
    return rc;
}
