// Buffers of a non-contiguous datatype, for the byte-moving collectives. MPI lets ranks
// describe the same bytes with different datatypes (a broadcast's root sends 4 MPI_INT, a
// receiver takes one vector of 4 ints), so whether Weft serves a call is decided from the
// type signature's size alone, which every rank agrees on; a rank whose buffer is not
// contiguous runs on a packed copy, filled before the run and unpacked after it.
#include <limits.h>
#include <stdlib.h>

#include "interpose.h"

/// Packs or unpacks `v` in pieces whose packed size fits MPI_Pack's int.
static int transfer(weft_ip_view_t *v, MPI_Comm comm, int pack) {
    int size = 0;
    MPI_Aint lb = 0, extent = 0;
    if (PMPI_Type_size(v->type, &size) != MPI_SUCCESS || PMPI_Type_get_extent(v->type, &lb, &extent) != MPI_SUCCESS ||
        size <= 0)
        return WEFT_ERR_ARGUMENT;
    int64_t per_piece = INT_MAX / size > 0 ? INT_MAX / size : 1;
    if ((int64_t)size > INT_MAX) return WEFT_ERR_ARGUMENT;
    for (int64_t done = 0; done < v->count; done += per_piece) {
        int items = (int)(v->count - done < per_piece ? v->count - done : per_piece);
        char *user = (char *)v->user + done * extent;
        char *bytes = v->staged + done * size;
        int position = 0, rc = pack ? PMPI_Pack(user, items, v->type, bytes, items * size, &position, comm)
                                    : PMPI_Unpack(bytes, items * size, &position, user, items, v->type, comm);
        if (rc != MPI_SUCCESS) return rc;
        // Packed bytes are the signature's on one machine; anything else would misplace data.
        if (position != items * size) return WEFT_ERR_ARGUMENT;
    }
    return WEFT_OK;
}

int weft_ip_view_open(weft_ip_view_t *v, MPI_Comm comm) {
    int size = 0;
    if (PMPI_Type_size(v->type, &size) != MPI_SUCCESS) return WEFT_ERR_ARGUMENT;
    v->staged = malloc(v->count * size > 0 ? (size_t)(v->count * size) : 1);
    if (!v->staged) return WEFT_ERR_NO_MEMORY;
    *v->bind = v->staged;
    return v->in ? transfer(v, comm, 1) : WEFT_OK;
}

int weft_ip_view_close(weft_ip_view_t *v, MPI_Comm comm, int ran) {
    int rc = ran && v->out && v->staged ? transfer(v, comm, 0) : WEFT_OK;
    free(v->staged);
    v->staged = NULL;
    return rc;
}
