// Set-up and clean-up of libweft-mpi.so around the program's MPI_Init and MPI_Finalize:
// the WEFT_* variables are read and checked once (a bad one stops the job with one line,
// never a silent fallback), and every per-communicator state is released before
// PMPI_Finalize.
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "interpose.h"

int weft_ip_active;
int weft_ip_forward_all;
int weft_ip_verbose;
int weft_ip_world_rank;
int weft_ip_mpi;

/// Stops every rank (they all read the same environment) after rank 0 printed the reason.
static void refuse(const char *reason) {
    if (weft_ip_world_rank == 0) fprintf(stderr, "weft-mpi: error: %s\n", reason);
    PMPI_Finalize();
    exit(1);
}

static void setup(void) {
    int size = 1, provided = MPI_THREAD_SINGLE;
    PMPI_Comm_rank(MPI_COMM_WORLD, &weft_ip_world_rank);
    PMPI_Comm_size(MPI_COMM_WORLD, &size);
    PMPI_Query_thread(&provided);
    // Weft's path keeps per-communicator scratch and runs one collective at a time; with
    // MPI_THREAD_MULTIPLE every call goes to Open MPI, which is thread-safe.
    weft_ip_forward_all = provided == MPI_THREAD_MULTIPLE;
    const char *verbose = getenv("WEFT_VERBOSE");
    weft_ip_verbose = verbose && strcmp(verbose, "0") != 0 && verbose[0];

    char error[2048];
    // A descriptor (WEFT_TOPOLOGY) is checked against where MPI put the ranks: which share a
    // node, and the hosts' names for the message.
    int32_t *keys = NULL;
    char *names = NULL;
    const char *topology = getenv("WEFT_TOPOLOGY");
    if (topology && topology[0] && size > 1) {
        weft_comm_t world = NULL;
        keys = calloc((size_t)size, sizeof *keys);
        names = calloc((size_t)size, WEFT_HOST_NAME_BYTES);
        if (!keys || !names || weft_comm_world(&world) != WEFT_OK || weft_comm_node_keys(world, keys) != WEFT_OK
            || weft_comm_host_names(world, names) != WEFT_OK)
            refuse("WEFT_TOPOLOGY: cannot learn from MPI which ranks share a node");
        weft_comm_free(world);
    }
    int configured = weft_ip_configure(size, keys, names, error, sizeof error);
    free(keys);
    free(names);
    if (configured != 0) refuse(error);
    const char *report = getenv("WEFT_REPORT");
    if (report && report[0]) {
        char folder[4096];
        snprintf(folder, sizeof folder, "%s", report);
        char *slash = strrchr(folder, '/');
        if (slash) *slash = 0;
        if (slash && folder[0] && access(folder, W_OK) != 0) {
            snprintf(error, sizeof error, "WEFT_REPORT=%s: folder %s does not exist or is not writable; create it or name another file", report, folder);
            refuse(error);
        }
    }
    // A program may legitimately keep peers waiting for minutes, as native MPI allows:
    // no timeout unless the user asks for one.
    double timeout = 0;
    const char *text = getenv("WEFT_TIMEOUT");
    if (text && text[0]) {
        char *end = NULL;
        timeout = strtod(text, &end);
        if (*end || !isfinite(timeout) || timeout < 0) {
            snprintf(error, sizeof error, "WEFT_TIMEOUT='%s' is not a number of seconds >= 0 (0: wait forever)", text);
            refuse(error);
        }
    }
    weft_set_timeout(timeout);
    weft_set_yield(weft_yield_by_default());
    weft_ip_mpi = weft_ip_algorithm_mpi();
    if (weft_ip_state_keyval_create() != MPI_SUCCESS) refuse("cannot create the communicator attribute key");
    weft_ip_active = 1;
}

int MPI_Init(int *argc, char ***argv) {
    int rc = PMPI_Init(argc, argv);
    if (rc == MPI_SUCCESS) setup();
    return rc;
}

int MPI_Init_thread(int *argc, char ***argv, int required, int *provided) {
    int rc = PMPI_Init_thread(argc, argv, required, provided);
    if (rc == MPI_SUCCESS) setup();
    return rc;
}

int MPI_Finalize(void) {
    if (weft_ip_active) {
        weft_ip_report_write();
        weft_ip_state_release_all();
        weft_ip_active = 0;
    }
    return PMPI_Finalize();
}
