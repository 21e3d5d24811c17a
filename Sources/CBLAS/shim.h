// OpenBLAS's CBLAS interface (libopenblas-dev), for the GEMMs of WeftNN.
#include <cblas.h>
// Thread count of OpenBLAS's own pool; Weft runs one thread per rank by default.
void openblas_set_num_threads(int num_threads);
