// Open MPI's C API, exposed to the CWeft shim through pkg-config `ompi-c`.
#include <mpi.h>
