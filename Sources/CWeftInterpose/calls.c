// The MPI collective entry points of libweft-mpi.so. Each call is classified from values
// every rank shares (collective, count, datatype, operator, communicator, root) — never
// from a buffer address — so all ranks take the same path. What Weft serves runs through
// its executor; everything else (intercommunicators, user operators, MAXLOC, unsigned
// types, zero counts, errors) goes to PMPI_* unchanged, so MPI's own checks and error
// reports stay exactly as they were. Byte-moving collectives are decided on the type
// signature's size, which MPI lets ranks describe with different datatypes; a buffer of a
// non-contiguous type is run on as a packed copy (staging.c).
#include <stdio.h>

#include "interpose.h"

static int reduction_type(MPI_Datatype type, weft_dtype_t *out) {
    if (type == MPI_FLOAT) *out = WEFT_F32;
    else if (type == MPI_DOUBLE) *out = WEFT_F64;
    else if (type == MPI_INT || type == MPI_INT32_T) *out = WEFT_I32;
    else if (type == MPI_INT64_T || type == MPI_LONG_LONG || type == MPI_LONG_LONG_INT) *out = WEFT_I64;
    else if (type == MPI_LONG && sizeof(long) == 8) *out = WEFT_I64;
    // Fortran's predefined types (Open MPI's gfortran build: INTEGER is 4 bytes).
    else if (type == MPI_REAL || type == MPI_REAL4) *out = WEFT_F32;
    else if (type == MPI_DOUBLE_PRECISION || type == MPI_REAL8) *out = WEFT_F64;
    else if ((type == MPI_INTEGER && sizeof(MPI_Fint) == 4) || type == MPI_INTEGER4) *out = WEFT_I32;
    else if (type == MPI_INTEGER8) *out = WEFT_I64;
    else return 0;
    return 1;
}

static int reduction_op(MPI_Op op, weft_op_t *out) {
    if (op == MPI_SUM) *out = WEFT_SUM;
    else if (op == MPI_PROD) *out = WEFT_PROD;
    else if (op == MPI_MAX) *out = WEFT_MAX;
    else if (op == MPI_MIN) *out = WEFT_MIN;
    else return 0;
    return 1;
}

/// Whether a type's map lists its bytes in memory order, each once: a predefined type, or a
/// duplicate or contiguous repetition of such a type. Sizes alone cannot tell (an indexed
/// type with displacements {1, 0} spans its size exactly, out of order); any other derived
/// type is run on as a packed copy, which is always right.
static int in_memory_order(MPI_Datatype type) {
    int integers = 0, addresses = 0, types = 0, combiner = 0;
    if (PMPI_Type_get_envelope(type, &integers, &addresses, &types, &combiner) != MPI_SUCCESS) return 0;
    if (combiner == MPI_COMBINER_NAMED) return 1;
    if ((combiner != MPI_COMBINER_DUP && combiner != MPI_COMBINER_CONTIGUOUS) || types != 1 || integers > 1 ||
        addresses > 0)
        return 0;
    int count[1];
    MPI_Datatype inner;
    if (PMPI_Type_get_contents(type, integers, 0, 1, count, NULL, &inner) != MPI_SUCCESS) return 0;
    int ordered = in_memory_order(inner);
    int inner_integers, inner_addresses, inner_types, inner_combiner;
    // Derived types returned by get_contents are the caller's to free.
    if (PMPI_Type_get_envelope(inner, &inner_integers, &inner_addresses, &inner_types, &inner_combiner) == MPI_SUCCESS &&
        inner_combiner != MPI_COMBINER_NAMED)
        PMPI_Type_free(&inner);
    return ordered;
}

/// Whether a derived type was committed: MPI offers no query, so ask Open MPI's own argument
/// check, which refuses an uncommitted type (whatever the count): a zero-count send to
/// MPI_PROC_NULL on the library's private self communicator, which returns errors. (With
/// Open MPI's argument checks off, `mpi_param_check=0`, it says yes, as Open MPI would run.)
static int committed(MPI_Datatype type) {
    if (weft_ip_self == MPI_COMM_NULL) return 1;
    char probe[16];
    return PMPI_Send(probe, 0, type, MPI_PROC_NULL, 0, weft_ip_self) == MPI_SUCCESS;
}

/// Size in bytes of a datatype's signature (0 when unusable), and whether its items lie
/// contiguously with no gaps (then a buffer of them is its bytes). The size is what ranks
/// agree on; contiguity is each rank's own (staging.c).
static int64_t type_bytes(MPI_Datatype type, int *contiguous) {
    *contiguous = 1;
    if (type == MPI_DATATYPE_NULL) return 0;
    // The common predefined types without three PMPI_ queries: a forwarded small call pays them.
    weft_dtype_t known;
    if (reduction_type(type, &known)) return (int64_t)weft_dtype_size(known);
    if (type == MPI_BYTE || type == MPI_CHAR || type == MPI_SIGNED_CHAR || type == MPI_UNSIGNED_CHAR) return 1;
    if (!committed(type)) return 0;
    // The _x queries: a type of more than 2^31-1 bytes has no int size (PMPI_Type_size gives
    // MPI_UNDEFINED), and a rank describing the message so must not forward while a rank
    // describing it as many small elements runs Weft's schedule.
    MPI_Count size = 0, lb = 0, extent = 0, true_lb = 0, true_extent = 0;
    if (PMPI_Type_size_x(type, &size) != MPI_SUCCESS || PMPI_Type_get_extent_x(type, &lb, &extent) != MPI_SUCCESS ||
        PMPI_Type_get_true_extent_x(type, &true_lb, &true_extent) != MPI_SUCCESS || size <= 0)
        return 0;
    *contiguous = lb == 0 && true_lb == 0 && extent == size && true_extent == size && in_memory_order(type);
    return size;
}

/// Whether a call may go straight to PMPI_ without classification: on the communicator used
/// last (state cached, so created earlier), a predefined type, and a size below every rule
/// that runs on Weft — where dispatch would forward too, decided from the same shared
/// values. A forwarded small call then costs a compare and a counter (docs/BENCHMARKS.md,
/// "Paired"). `*bytes` gets the size the report counts; `blocks` multiplies by the
/// communicator size for per-rank counts (allgather, reduce-scatter, alltoall).
static int quick_forward(MPI_Comm comm, int collective, int count, MPI_Datatype type, int blocks, int64_t *bytes) {
    const weft_ip_state_t *s = weft_ip_cached_state;
    if (comm != weft_ip_cached_comm || !s || weft_ip_forward_all || count < 0) return 0;
    weft_dtype_t known;
    if (!reduction_type(type, &known)) return 0;
    *bytes = (int64_t)count * (int64_t)weft_dtype_size(known) * (blocks ? s->size : 1);
    return *bytes < s->weft_from[collective];
}

// These query MPI only while the library is active: before MPI_Init or after MPI_Finalize
// the program's call must reach PMPI_ first, so that MPI's error names it.
static int valid_root(int root, MPI_Comm comm) {
    int size = 0;
    return weft_ip_active && comm != MPI_COMM_NULL && PMPI_Comm_size(comm, &size) == MPI_SUCCESS && root >= 0 &&
           root < size;
}

static int comm_size(MPI_Comm comm) {
    int size = 1;
    if (weft_ip_active && comm != MPI_COMM_NULL) PMPI_Comm_size(comm, &size);
    return size;
}

/// A failure inside Weft's path goes through the communicator's error handler, as MPI's
/// own errors do (fatal by default, returned under MPI_ERRORS_RETURN).
static int fail(MPI_Comm comm, int code, const char *function) {
    char text[256];
    weft_error_string(code, text, sizeof text);
    // A timed-out schedule knows the rank it still waited for (in `comm`'s numbering, which
    // Weft's private split keeps): name it, with its rank in MPI_COMM_WORLD.
    int peer = code == WEFT_ERR_TIMEOUT || code == WEFT_ERR_PEER_CLOSED ? weft_timeout_peer() : -1,
        world_peer = MPI_UNDEFINED;
    if (peer >= 0) {
        MPI_Group group, world;
        PMPI_Comm_group(comm, &group);
        PMPI_Comm_group(MPI_COMM_WORLD, &world);
        PMPI_Group_translate_ranks(group, 1, &peer, world, &world_peer);
        PMPI_Group_free(&group);
        PMPI_Group_free(&world);
        char where[32];
        snprintf(where, sizeof where, "world rank %d", world_peer);
        weft_peer_failure_reason(code, peer, where, text, sizeof text);
    }
    // Native MPI prints nothing where the program takes errors itself (MPI_ERRORS_RETURN, its
    // own handler): then neither does the library, unless WEFT_VERBOSE asks.
    MPI_Errhandler handler = MPI_ERRHANDLER_NULL;
    int fatal = PMPI_Comm_get_errhandler(comm, &handler) != MPI_SUCCESS || handler == MPI_ERRORS_ARE_FATAL;
    if (handler != MPI_ERRHANDLER_NULL) PMPI_Errhandler_free(&handler);
    // A timeout or a lost peer has no MPI class of its own (the program sees MPI_ERR_OTHER):
    // always say whom.
    if (fatal || weft_ip_verbose || peer >= 0)
        fprintf(stderr, "weft-mpi: rank %d: %s failed: %s\n", weft_ip_world_rank, function, text);
    int mpi = code > 0 && code <= MPI_ERR_LASTCODE ? code : MPI_ERR_OTHER;
    PMPI_Comm_call_errhandler(comm, mpi);
    return mpi;
}

/// Runs `r` with Weft where the plan says so; WEFT_IP_FORWARD when PMPI_* should run it.
/// `views`: buffers of non-contiguous types, run on as packed copies (staging.c).
static int dispatch_staged(MPI_Comm comm, weft_ip_request_t *r, const char *function, weft_ip_view_t *views,
                           int nviews) {
    // Under MPI_THREAD_MULTIPLE nothing of Weft's is touched: threads may call concurrently.
    if (weft_ip_forward_all) return WEFT_IP_FORWARD;
    weft_ip_state_t *s = weft_ip_state(comm);
    if (!s) return WEFT_IP_FORWARD;
    int algorithm = weft_ip_choose(s, r->collective, r->bytes);
    if (algorithm == weft_ip_mpi) return WEFT_IP_FORWARD;
    // Decided on values every rank shares: from here every rank runs Weft's schedule. Every
    // rank counts the call here, before anything can fail, so node-mates' pull progress
    // (call, step) stays in step even after an error returned to the program.
    ++s->pull_calls;
    if (r->mismatched) return fail(comm, WEFT_ERR_COUNT_MISMATCH, function);
    int rc = WEFT_OK, opened = 0;
    while (opened < nviews && rc == WEFT_OK) rc = weft_ip_view_open(&views[opened++], comm);
    if (rc == WEFT_OK) rc = weft_ip_run(s, r, algorithm);
    for (int v = 0; v < opened; v++) {
        int closed = weft_ip_view_close(&views[v], comm, rc == WEFT_OK);
        if (rc == WEFT_OK) rc = closed;
    }
    // Forwarding is decided alike on every rank (weft_ip_run), before any data moved.
    if (rc == WEFT_IP_FORWARD) return rc;
    weft_ip_count(r->collective, r->bytes, algorithm);
    return rc == WEFT_OK ? MPI_SUCCESS : fail(comm, rc, function);
}

static int dispatch(MPI_Comm comm, weft_ip_request_t *r, const char *function) {
    return dispatch_staged(comm, r, function, NULL, 0);
}

static int64_t bytes_of(int64_t count, MPI_Datatype type) {
    MPI_Count size = 0;
    // Outside MPI_Init..MPI_Finalize nothing is counted, and no PMPI_ call may come before
    // the program's own (MPI's error would name it instead of the program's call).
    if (!weft_ip_active || count <= 0 || type == MPI_DATATYPE_NULL || PMPI_Type_size_x(type, &size) != MPI_SUCCESS ||
        size < 0)
        return 0;
    return count * size;
}

static void native(int collective, int64_t bytes) { weft_ip_count(collective, bytes, weft_ip_mpi); }

/// Open MPI's test for send and receive buffers that are one (MPI_ERR_BUFFER / MPI_ERR_ARG):
/// the same address, not MPI_BOTTOM, more than one element — or both MPI_IN_PLACE.
static int aliased(const void *send, const void *recv, int64_t count) {
    return send == recv && (send == MPI_IN_PLACE || (send != MPI_BOTTOM && count > 1));
}

/// A reduction Weft has kernels for, on an intracommunicator call with a valid count.
static int reduction(weft_ip_request_t *r, int collective, const void *send, void *recv, int64_t count,
                     MPI_Datatype type, MPI_Op op, int blocks) {
    if (!weft_ip_active || count <= 0 || !reduction_type(type, &r->dtype) || !reduction_op(op, &r->op)) return 0;
    // Buffers Open MPI refuses go to it, so the program gets its error (see MPI_Reduce too).
    if (recv == MPI_IN_PLACE || (collective == WEFT_IP_ALLREDUCE && aliased(send, recv, count))) return 0;
    r->collective = collective;
    // One element in the same buffer (Open MPI accepts it) runs in place.
    r->send = send == MPI_IN_PLACE || send == recv ? NULL : send;
    r->recv = recv;
    r->count = count;
    r->bytes = count * (int64_t)blocks * (int64_t)weft_dtype_size(r->dtype);
    return 1;
}

/// A byte-moving collective, moved as bytes: `count` items of `type` (the receive side's).
/// A receive buffer whose type is not contiguous gets a view (`*view`, with `items` items
/// in all, `in` when it also holds this rank's input), so that only the signature's size,
/// which every rank agrees on, decides the path.
static int movement(weft_ip_request_t *r, int collective, const void *send, void *recv, int64_t count,
                    MPI_Datatype type, int blocks, weft_ip_view_t *view, int64_t items, int in, int *nviews) {
    int contiguous = 1;
    // Under MPI_THREAD_MULTIPLE every call is native: no PMPI_ query from concurrent threads.
    int64_t size = weft_ip_active && !weft_ip_forward_all && count > 0 && recv != MPI_IN_PLACE
                       ? type_bytes(type, &contiguous) : 0;
    if (size == 0) return 0;
    if (!contiguous)
        *view = (weft_ip_view_t){.user = recv, .count = items, .type = type, .in = in, .out = 1, .bind = &r->recv},
        (*nviews)++;
    r->collective = collective;
    r->dtype = WEFT_BYTE;
    r->op = WEFT_SUM;
    r->send = send == MPI_IN_PLACE ? NULL : send;
    r->recv = recv;
    r->count = count * size;
    r->bytes = r->count * blocks;
    return 1;
}

/// The send side of an allgather (`items` = sendcount) or alltoall (sendcount × ranks):
/// its signature must carry what the receive side expects of this rank (else the program is
/// erroneous and a served call fails, as MPI's own would); a type that is not contiguous
/// gets a packed view. Returns 0 where the type is unusable (an error for PMPI_ to report
/// — unusable on every rank alike only if the program is erroneous anyway).
static int send_side(weft_ip_request_t *r, const void *send, int64_t items, MPI_Datatype type, weft_ip_view_t *view,
                     int *nviews) {
    int contiguous = 1;
    int64_t size = items < 0 ? 0 : type_bytes(type, &contiguous);
    if (size == 0) return 0;
    int64_t expected = r->collective == WEFT_IP_ALLTOALL ? r->bytes : r->count;
    r->mismatched = items * size != expected;
    if (!contiguous)
        *view = (weft_ip_view_t){.user = (void *)send, .count = items, .type = type, .in = 1, .out = 0,
                                 .bind = (char **)&r->send},
        (*nviews)++;
    return 1;
}

int MPI_Allreduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype datatype, MPI_Op op, MPI_Comm comm) {
    int64_t quick = 0;
    if (quick_forward(comm, WEFT_IP_ALLREDUCE, count, datatype, 0, &quick)) {
        native(WEFT_IP_ALLREDUCE, quick);
        return PMPI_Allreduce(sendbuf, recvbuf, count, datatype, op, comm);
    }
    weft_ip_request_t r = {0};
    if (reduction(&r, WEFT_IP_ALLREDUCE, sendbuf, recvbuf, count, datatype, op, 1)) {
        int rc = dispatch(comm, &r, "MPI_Allreduce");
        if (rc != WEFT_IP_FORWARD) return rc;
    }
    native(WEFT_IP_ALLREDUCE, r.bytes ? r.bytes : bytes_of(count, datatype));
    return PMPI_Allreduce(sendbuf, recvbuf, count, datatype, op, comm);
}

int MPI_Reduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype datatype, MPI_Op op, int root,
               MPI_Comm comm) {
    int64_t quick = 0;
    if (quick_forward(comm, WEFT_IP_REDUCE, count, datatype, 0, &quick)) {
        native(WEFT_IP_REDUCE, quick);
        return PMPI_Reduce(sendbuf, recvbuf, count, datatype, op, root, comm);
    }
    weft_ip_request_t r = {0};
    int rank = 0;
    // MPI_IN_PLACE is the root's alone, and the root's buffers must differ: Open MPI's error.
    int buffers_allowed = valid_root(root, comm) && PMPI_Comm_rank(comm, &rank) == MPI_SUCCESS &&
                          (rank == root ? !aliased(sendbuf, recvbuf, count) : sendbuf != MPI_IN_PLACE);
    if (buffers_allowed && reduction(&r, WEFT_IP_REDUCE, sendbuf, rank == root ? recvbuf : NULL, count, datatype, op, 1)) {
        r.root = root;
        int rc = dispatch(comm, &r, "MPI_Reduce");
        if (rc != WEFT_IP_FORWARD) return rc;
    }
    native(WEFT_IP_REDUCE, r.bytes ? r.bytes : bytes_of(count, datatype));
    return PMPI_Reduce(sendbuf, recvbuf, count, datatype, op, root, comm);
}

int MPI_Bcast(void *buffer, int count, MPI_Datatype datatype, int root, MPI_Comm comm) {
    int64_t quick = 0;
    if (quick_forward(comm, WEFT_IP_BROADCAST, count, datatype, 0, &quick)) {
        native(WEFT_IP_BROADCAST, quick);
        return PMPI_Bcast(buffer, count, datatype, root, comm);
    }
    weft_ip_request_t r = {0};
    weft_ip_view_t view;
    int nviews = 0, rank = 0;
    if (valid_root(root, comm) && PMPI_Comm_rank(comm, &rank) == MPI_SUCCESS &&
        movement(&r, WEFT_IP_BROADCAST, buffer, buffer, count, datatype, 1, &view, count, rank == root, &nviews)) {
        r.send = NULL;
        r.root = root;
        view.out = rank != root; // the root's buffer is only read
        int rc = dispatch_staged(comm, &r, "MPI_Bcast", &view, nviews);
        if (rc != WEFT_IP_FORWARD) return rc;
    }
    native(WEFT_IP_BROADCAST, r.bytes ? r.bytes : bytes_of(count, datatype));
    return PMPI_Bcast(buffer, count, datatype, root, comm);
}

int MPI_Allgather(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf, int recvcount,
                  MPI_Datatype recvtype, MPI_Comm comm) {
    int64_t quick = 0;
    if (quick_forward(comm, WEFT_IP_ALLGATHER, recvcount, recvtype, 1, &quick)) {
        native(WEFT_IP_ALLGATHER, quick);
        return PMPI_Allgather(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, comm);
    }
    weft_ip_request_t r = {0};
    weft_ip_view_t views[2];
    int nviews = 0, size = comm_size(comm), inplace = sendbuf == MPI_IN_PLACE;
    if (comm != MPI_COMM_NULL && movement(&r, WEFT_IP_ALLGATHER, sendbuf, recvbuf, recvcount, recvtype, size, &views[0],
                                          (int64_t)recvcount * size, inplace, &nviews)) {
        if (inplace || send_side(&r, sendbuf, sendcount, sendtype, &views[nviews], &nviews)) {
            int rc = dispatch_staged(comm, &r, "MPI_Allgather", views, nviews);
            if (rc != WEFT_IP_FORWARD) return rc;
        }
    }
    native(WEFT_IP_ALLGATHER, bytes_of(recvcount, recvtype) * comm_size(comm));
    return PMPI_Allgather(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, comm);
}

int MPI_Reduce_scatter_block(const void *sendbuf, void *recvbuf, int recvcount, MPI_Datatype datatype, MPI_Op op,
                             MPI_Comm comm) {
    int64_t quick = 0;
    if (quick_forward(comm, WEFT_IP_REDUCE_SCATTER, recvcount, datatype, 1, &quick)) {
        native(WEFT_IP_REDUCE_SCATTER, quick);
        return PMPI_Reduce_scatter_block(sendbuf, recvbuf, recvcount, datatype, op, comm);
    }
    weft_ip_request_t r = {0};
    if (comm != MPI_COMM_NULL &&
        reduction(&r, WEFT_IP_REDUCE_SCATTER, sendbuf, recvbuf, recvcount, datatype, op, comm_size(comm))) {
        int rc = dispatch(comm, &r, "MPI_Reduce_scatter_block");
        if (rc != WEFT_IP_FORWARD) return rc;
    }
    native(WEFT_IP_REDUCE_SCATTER, bytes_of(recvcount, datatype) * comm_size(comm));
    return PMPI_Reduce_scatter_block(sendbuf, recvbuf, recvcount, datatype, op, comm);
}

int MPI_Reduce_scatter(const void *sendbuf, void *recvbuf, const int recvcounts[], MPI_Datatype datatype, MPI_Op op,
                       MPI_Comm comm) {
    weft_ip_request_t r = {0};
    int inter = 1, size = comm_size(comm), equal = recvcounts != NULL;
    if (weft_ip_active && comm != MPI_COMM_NULL) PMPI_Comm_test_inter(comm, &inter);
    // Only intracommunicators: an intercommunicator's recvcounts describe the other group.
    for (int i = 1; equal && !inter && i < size; i++) equal = recvcounts[i] == recvcounts[0];
    if (equal && !inter && reduction(&r, WEFT_IP_REDUCE_SCATTER, sendbuf, recvbuf, recvcounts[0], datatype, op, size)) {
        int rc = dispatch(comm, &r, "MPI_Reduce_scatter");
        if (rc != WEFT_IP_FORWARD) return rc;
    }
    int64_t total = 0;
    for (int i = 0; recvcounts && !inter && i < size; i++) total += recvcounts[i];
    native(WEFT_IP_REDUCE_SCATTER, bytes_of(total, datatype));
    return PMPI_Reduce_scatter(sendbuf, recvbuf, recvcounts, datatype, op, comm);
}

int MPI_Alltoall(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf, int recvcount,
                 MPI_Datatype recvtype, MPI_Comm comm) {
    int64_t quick = 0;
    if (quick_forward(comm, WEFT_IP_ALLTOALL, recvcount, recvtype, 1, &quick)) {
        native(WEFT_IP_ALLTOALL, quick);
        return PMPI_Alltoall(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, comm);
    }
    weft_ip_request_t r = {0};
    weft_ip_view_t views[2];
    int nviews = 0, size = comm_size(comm);
    // In place (every rank or none, as MPI requires) is forwarded: see run.c.
    if (sendbuf != MPI_IN_PLACE && comm != MPI_COMM_NULL &&
        movement(&r, WEFT_IP_ALLTOALL, sendbuf, recvbuf, recvcount, recvtype, size, &views[0],
                 (int64_t)recvcount * size, 0, &nviews) &&
        send_side(&r, sendbuf, (int64_t)sendcount * size, sendtype, &views[nviews], &nviews)) {
        int rc = dispatch_staged(comm, &r, "MPI_Alltoall", views, nviews);
        if (rc != WEFT_IP_FORWARD) return rc;
    }
    native(WEFT_IP_ALLTOALL, bytes_of(recvcount, recvtype) * comm_size(comm));
    return PMPI_Alltoall(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, comm);
}

int MPI_Barrier(MPI_Comm comm) {
    if (weft_ip_active && comm != MPI_COMM_NULL) {
        weft_ip_request_t r = {.collective = WEFT_IP_BARRIER, .dtype = WEFT_BYTE};
        int rc = dispatch(comm, &r, "MPI_Barrier");
        if (rc != WEFT_IP_FORWARD) return rc;
    }
    native(WEFT_IP_BARRIER, 0);
    return PMPI_Barrier(comm);
}
