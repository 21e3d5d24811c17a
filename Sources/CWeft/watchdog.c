// A watchdog for the blocking MPI calls the shim cannot make non-blocking without changing
// what they measure (Open MPI's tuned collectives, the `mpi` baseline) or that have no
// non-blocking form (window creation and free, communicator creation, finalize). Before
// such a call the caller arms it with the collective timeout; if the call has not
// returned by then — a peer died, hangs or was stopped — the watchdog prints one line and
// ends this process, which makes mpirun end the job. Arming costs two stores.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static _Atomic double deadline; // weft_wtime seconds (monotonic); 0: disarmed
static const char *_Atomic watched;
static pthread_once_t started = PTHREAD_ONCE_INIT;
static int watchdog_rank = -1;
static char watchdog_host[MPI_MAX_PROCESSOR_NAME + 1] = "?";

static void *watch(void *unused) {
    (void)unused;
    for (;;) {
        struct timespec pause = {0, 100 * 1000 * 1000};
        nanosleep(&pause, NULL);
        double d = atomic_load(&deadline);
        if (d > 0 && weft_wtime() > d) {
            fprintf(stderr,
                    "weft: error: rank %d (host %s): %s did not complete within the %g s timeout (a peer died, hangs "
                    "or was stopped); ending the job\n",
                    watchdog_rank, watchdog_host, atomic_load(&watched), weft_timeout_seconds);
            fflush(stderr);
            _exit(1);
        }
    }
    return NULL;
}

static void start(void) {
    pthread_t thread;
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    pthread_create(&thread, &attributes, watch, NULL);
    pthread_attr_destroy(&attributes);
}

void weft_watch_begin(const char *what) {
    if (weft_timeout_seconds <= 0) return;
    pthread_once(&started, start);
    if (watchdog_rank < 0) {
        int initialized = 0, finalized = 0;
        MPI_Initialized(&initialized);
        MPI_Finalized(&finalized);
        if (initialized && !finalized) {
            MPI_Comm_rank(MPI_COMM_WORLD, &watchdog_rank);
            int length = 0;
            MPI_Get_processor_name(watchdog_host, &length);
        }
    }
    atomic_store(&watched, what);
    atomic_store(&deadline, weft_wtime() + weft_timeout_seconds);
}

void weft_watch_end(void) { atomic_store(&deadline, 0.0); }
