// Fortran entry points. Open MPI's Fortran bindings (mpif.h, `use mpi`)
// call PMPI_* directly, so a Fortran program reaches Weft only through these symbols, as
// MPI profiling tools provide them: every name mangling of each intercepted call converts
// its handles and Fortran's MPI_IN_PLACE and calls the C entry point above.
#include <stddef.h>

#include "interpose.h"

// Fortran's MPI_IN_PLACE is the address of a common block; compilers mangle its name
// differently, so every spelling is a weak reference (absent ones are NULL).
extern int mpi_fortran_in_place_ __attribute__((weak));
extern int mpi_fortran_in_place __attribute__((weak));
extern int mpi_fortran_in_place__ __attribute__((weak));
extern int MPI_FORTRAN_IN_PLACE __attribute__((weak));
extern int mpi_fortran_bottom_ __attribute__((weak));
extern int mpi_fortran_bottom __attribute__((weak));
extern int mpi_fortran_bottom__ __attribute__((weak));
extern int MPI_FORTRAN_BOTTOM __attribute__((weak));

static const void *c_buffer(const void *buffer) {
    if (!buffer) return buffer;
    if (buffer == &mpi_fortran_in_place_ || buffer == &mpi_fortran_in_place || buffer == &mpi_fortran_in_place__ ||
        buffer == &MPI_FORTRAN_IN_PLACE)
        return MPI_IN_PLACE;
    if (buffer == &mpi_fortran_bottom_ || buffer == &mpi_fortran_bottom || buffer == &mpi_fortran_bottom__ ||
        buffer == &MPI_FORTRAN_BOTTOM)
        return MPI_BOTTOM;
    return buffer;
}

/// Defines one Fortran routine under the four usual manglings (mpif.h and `use mpi`).
/// `use mpi_f08` programs keep Open MPI's own path: its ABI (optional error arguments,
/// descriptors) is not one to guess at inside someone else's program.
#define FORTRAN(lower, upper, params, body)                                                                         \
    static void weft_f_##lower params body                                                                          \
    void lower params __attribute__((alias("weft_f_" #lower)));                                                    \
    void lower##_ params __attribute__((alias("weft_f_" #lower)));                                                 \
    void lower##__ params __attribute__((alias("weft_f_" #lower)));                                                \
    void upper params __attribute__((alias("weft_f_" #lower)));

FORTRAN(mpi_init, MPI_INIT, (MPI_Fint * ierr), { *ierr = MPI_Init(NULL, NULL); })

FORTRAN(mpi_init_thread, MPI_INIT_THREAD, (MPI_Fint * required, MPI_Fint *provided, MPI_Fint *ierr), {
    int p = 0;
    *ierr = MPI_Init_thread(NULL, NULL, (int)*required, &p);
    *provided = (MPI_Fint)p;
})

FORTRAN(mpi_finalize, MPI_FINALIZE, (MPI_Fint * ierr), { *ierr = MPI_Finalize(); })

// `use mpi_f08`: only its MPI_Init and MPI_Init_thread pass here (their optional ierror may be
// absent: NULL), so that this rank takes part in the set-up the others run at MPI_Init and
// tells them to forward every call (its collectives go straight to Open MPI). Without this a
// job mixing C and mpi_f08 programs stopped at start.
void mpi_init_f08_(MPI_Fint *ierr) {
    weft_ip_init_f08 = 1;
    int rc = MPI_Init(NULL, NULL);
    if (ierr) *ierr = (MPI_Fint)rc;
}

void mpi_init_thread_f08_(MPI_Fint *required, MPI_Fint *provided, MPI_Fint *ierr) {
    weft_ip_init_f08 = 1;
    int p = 0;
    int rc = MPI_Init_thread(NULL, NULL, (int)*required, &p);
    *provided = (MPI_Fint)p;
    if (ierr) *ierr = (MPI_Fint)rc;
}

FORTRAN(mpi_allreduce, MPI_ALLREDUCE,
        (void *sendbuf, void *recvbuf, MPI_Fint *count, MPI_Fint *datatype, MPI_Fint *op, MPI_Fint *comm, MPI_Fint *ierr),
        {
            *ierr = MPI_Allreduce(c_buffer(sendbuf), (void *)c_buffer(recvbuf), (int)*count, PMPI_Type_f2c(*datatype),
                                  PMPI_Op_f2c(*op), PMPI_Comm_f2c(*comm));
        })

FORTRAN(mpi_reduce, MPI_REDUCE,
        (void *sendbuf, void *recvbuf, MPI_Fint *count, MPI_Fint *datatype, MPI_Fint *op, MPI_Fint *root,
         MPI_Fint *comm, MPI_Fint *ierr),
        {
            *ierr = MPI_Reduce(c_buffer(sendbuf), (void *)c_buffer(recvbuf), (int)*count, PMPI_Type_f2c(*datatype),
                               PMPI_Op_f2c(*op), (int)*root, PMPI_Comm_f2c(*comm));
        })

FORTRAN(mpi_bcast, MPI_BCAST,
        (void *buffer, MPI_Fint *count, MPI_Fint *datatype, MPI_Fint *root, MPI_Fint *comm, MPI_Fint *ierr), {
            *ierr = MPI_Bcast((void *)c_buffer(buffer), (int)*count, PMPI_Type_f2c(*datatype), (int)*root,
                              PMPI_Comm_f2c(*comm));
        })

FORTRAN(mpi_allgather, MPI_ALLGATHER,
        (void *sendbuf, MPI_Fint *sendcount, MPI_Fint *sendtype, void *recvbuf, MPI_Fint *recvcount,
         MPI_Fint *recvtype, MPI_Fint *comm, MPI_Fint *ierr),
        {
            *ierr = MPI_Allgather(c_buffer(sendbuf), (int)*sendcount, PMPI_Type_f2c(*sendtype), (void *)c_buffer(recvbuf),
                                  (int)*recvcount, PMPI_Type_f2c(*recvtype), PMPI_Comm_f2c(*comm));
        })

FORTRAN(mpi_reduce_scatter_block, MPI_REDUCE_SCATTER_BLOCK,
        (void *sendbuf, void *recvbuf, MPI_Fint *recvcount, MPI_Fint *datatype, MPI_Fint *op, MPI_Fint *comm,
         MPI_Fint *ierr),
        {
            *ierr = MPI_Reduce_scatter_block(c_buffer(sendbuf), (void *)c_buffer(recvbuf), (int)*recvcount,
                                             PMPI_Type_f2c(*datatype), PMPI_Op_f2c(*op), PMPI_Comm_f2c(*comm));
        })

FORTRAN(mpi_reduce_scatter, MPI_REDUCE_SCATTER,
        (void *sendbuf, void *recvbuf, MPI_Fint *recvcounts, MPI_Fint *datatype, MPI_Fint *op, MPI_Fint *comm,
         MPI_Fint *ierr),
        {
            // MPI_Fint is int in Open MPI's gfortran build, so the counts pass through as they are.
            *ierr = MPI_Reduce_scatter(c_buffer(sendbuf), (void *)c_buffer(recvbuf), (const int *)recvcounts,
                                       PMPI_Type_f2c(*datatype), PMPI_Op_f2c(*op), PMPI_Comm_f2c(*comm));
        })

FORTRAN(mpi_alltoall, MPI_ALLTOALL,
        (void *sendbuf, MPI_Fint *sendcount, MPI_Fint *sendtype, void *recvbuf, MPI_Fint *recvcount,
         MPI_Fint *recvtype, MPI_Fint *comm, MPI_Fint *ierr),
        {
            *ierr = MPI_Alltoall(c_buffer(sendbuf), (int)*sendcount, PMPI_Type_f2c(*sendtype), (void *)c_buffer(recvbuf),
                                 (int)*recvcount, PMPI_Type_f2c(*recvtype), PMPI_Comm_f2c(*comm));
        })

FORTRAN(mpi_barrier, MPI_BARRIER, (MPI_Fint * comm, MPI_Fint *ierr),
        { *ierr = MPI_Barrier(PMPI_Comm_f2c(*comm)); })

_Static_assert(sizeof(MPI_Fint) == sizeof(int), "MPI_Fint must be int to pass Fortran count arrays through");
