// The `mpi` baseline: Open MPI's own collectives on the caller's buffers, so every
// benchmark carries its own reference (on a local communicator, local.c's). Element-wise
// collectives with more than 2^31-1 elements run in pieces; block collectives refuse such
// blocks (WEFT_ERR_TOO_LARGE).
#include <limits.h>
#include <string.h>

#include "internal.h"

static MPI_Datatype mpi_type(weft_dtype_t dtype) {
    switch (dtype) {
    case WEFT_F32: return MPI_FLOAT;
    case WEFT_F64: return MPI_DOUBLE;
    case WEFT_I32: return MPI_INT32_T;
    case WEFT_I64: return MPI_INT64_T;
    case WEFT_BYTE: return MPI_BYTE;
    }
    return MPI_DATATYPE_NULL;
}

static MPI_Op mpi_op(weft_op_t op) {
    switch (op) {
    case WEFT_SUM:
    case WEFT_AVG: return MPI_SUM;
    case WEFT_PROD: return MPI_PROD;
    case WEFT_MAX: return MPI_MAX;
    case WEFT_MIN: return MPI_MIN;
    }
    return MPI_OP_NULL;
}

static int piece_elements(weft_dtype_t dtype) {
    int64_t by_bytes = weft_max_message_bytes / (int64_t)weft_dtype_size(dtype);
    return by_bytes > INT_MAX ? INT_MAX : (int)(by_bytes > 0 ? by_bytes : 1);
}

int weft_native_allreduce(weft_comm_t comm, void *buffer, int64_t count, weft_dtype_t dtype, weft_op_t op) {
    if (comm->local) return weft_local_collective(comm, WEFT_LOCAL_ALLREDUCE, buffer, buffer, count, dtype, op, 0);
    size_t size = weft_dtype_size(dtype);
    int piece = piece_elements(dtype);
    for (int64_t start = 0; start < count || (start == 0 && count == 0); start += piece) {
        int n = (int)(count - start < piece ? count - start : piece);
        int rc = WEFT_WATCHED("MPI_Allreduce", PMPI_Allreduce(MPI_IN_PLACE, (char *)buffer + (size_t)start * size, n, mpi_type(dtype), mpi_op(op),
                               comm->comm));
        if (rc != MPI_SUCCESS) return rc;
        if (count == 0) break;
    }
    if (op == WEFT_AVG) weft_divide(buffer, count, dtype, weft_comm_size(comm));
    return WEFT_OK;
}

int weft_native_reduce(weft_comm_t comm, void *buffer, int64_t count, weft_dtype_t dtype, weft_op_t op, int root) {
    if (comm->local) return weft_local_collective(comm, WEFT_LOCAL_REDUCE, buffer, buffer, count, dtype, op, root);
    size_t size = weft_dtype_size(dtype);
    int piece = piece_elements(dtype);
    int rank = weft_comm_rank(comm);
    for (int64_t start = 0; start < count || (start == 0 && count == 0); start += piece) {
        int n = (int)(count - start < piece ? count - start : piece);
        char *b = (char *)buffer + (size_t)start * size;
        int rc = rank == root ? WEFT_WATCHED("MPI_Reduce", PMPI_Reduce(MPI_IN_PLACE, b, n, mpi_type(dtype), mpi_op(op), root, comm->comm))
                              : WEFT_WATCHED("MPI_Reduce", PMPI_Reduce(b, NULL, n, mpi_type(dtype), mpi_op(op), root, comm->comm));
        if (rc != MPI_SUCCESS) return rc;
        if (count == 0) break;
    }
    if (op == WEFT_AVG && rank == root) weft_divide(buffer, count, dtype, weft_comm_size(comm));
    return WEFT_OK;
}

int weft_native_broadcast(weft_comm_t comm, void *buffer, int64_t count, weft_dtype_t dtype, int root) {
    if (comm->local) return weft_local_collective(comm, WEFT_LOCAL_BROADCAST, buffer, buffer, count, dtype, WEFT_SUM, root);
    size_t size = weft_dtype_size(dtype);
    int piece = piece_elements(dtype);
    for (int64_t start = 0; start < count || (start == 0 && count == 0); start += piece) {
        int n = (int)(count - start < piece ? count - start : piece);
        int rc = WEFT_WATCHED("MPI_Bcast", PMPI_Bcast((char *)buffer + (size_t)start * size, n, mpi_type(dtype), root, comm->comm));
        if (rc != MPI_SUCCESS) return rc;
        if (count == 0) break;
    }
    return WEFT_OK;
}

int weft_native_reduce_scatter(weft_comm_t comm, void *buffer, int64_t block, weft_dtype_t dtype, weft_op_t op) {
    if (comm->local) return weft_local_collective(comm, WEFT_LOCAL_REDUCE_SCATTER, buffer, buffer, block, dtype, op, 0);
    if (block > INT_MAX) return WEFT_ERR_TOO_LARGE;
    int rank = weft_comm_rank(comm);
    size_t size = weft_dtype_size(dtype);
    // In place: the reduced block lands at the start of the buffer; move it to slot `rank`.
    int rc = WEFT_WATCHED("MPI_Reduce_scatter_block", PMPI_Reduce_scatter_block(MPI_IN_PLACE, buffer, (int)block, mpi_type(dtype), mpi_op(op), comm->comm));
    if (rc != MPI_SUCCESS) return rc;
    char *mine = (char *)buffer + (size_t)rank * (size_t)block * size;
    if (rank != 0) memmove(mine, buffer, (size_t)block * size);
    if (op == WEFT_AVG) weft_divide(mine, block, dtype, weft_comm_size(comm));
    return WEFT_OK;
}

int weft_native_allgather(weft_comm_t comm, void *buffer, int64_t block, weft_dtype_t dtype) {
    if (comm->local) return weft_local_collective(comm, WEFT_LOCAL_ALLGATHER, buffer, buffer, block, dtype, WEFT_SUM, 0);
    if (block > INT_MAX) return WEFT_ERR_TOO_LARGE;
    return WEFT_WATCHED("MPI_Allgather", PMPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buffer, (int)block, mpi_type(dtype), comm->comm));
}

int weft_native_alltoall(weft_comm_t comm, const void *input, void *output, int64_t block, weft_dtype_t dtype) {
    if (comm->local) return weft_local_collective(comm, WEFT_LOCAL_ALLTOALL, input, output, block, dtype, WEFT_SUM, 0);
    if (block > INT_MAX) return WEFT_ERR_TOO_LARGE;
    return WEFT_WATCHED("MPI_Alltoall", PMPI_Alltoall(input, (int)block, mpi_type(dtype), output, (int)block, mpi_type(dtype), comm->comm));
}
