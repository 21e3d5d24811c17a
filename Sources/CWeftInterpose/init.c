// Set-up and clean-up of libweft-mpi.so around the program's MPI_Init and MPI_Finalize:
// the WEFT_* variables are read and checked once on every rank (a bad one anywhere stops
// the whole job with one line, never a silent fallback or a hang), and every per-communicator state is released before
// PMPI_Finalize.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "interpose.h"

int weft_ip_active;
int weft_ip_forward_all;
int weft_ip_init_f08;
MPI_Comm weft_ip_self = MPI_COMM_NULL;
int weft_ip_verbose;
int weft_ip_world_rank;
int weft_ip_mpi;
int weft_ip_sockets;

/// Agrees, at MPI_Init, whether any rank refuses its settings: ranks may see different
/// environments (mpirun's per-application -x, a file on one host's disk only), so each
/// checks its own and all learn the outcome together. The lowest refusing rank prints its
/// reason in one line, then every rank stops; nobody is left waiting in a collective.
static void agree(const char *reason) {
    int size = 1, mine = reason ? weft_ip_world_rank : INT32_MAX, first = INT32_MAX;
    PMPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size > 1) PMPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    else first = mine;
    if (first == INT32_MAX) return;
    if (reason && first == weft_ip_world_rank) {
        if (weft_ip_world_rank == 0) fprintf(stderr, "weft-mpi: error: %s\n", reason);
        else fprintf(stderr, "weft-mpi: error: rank %d: %s\n", weft_ip_world_rank, reason);
    }
    PMPI_Finalize();
    exit(1);
}

/// A fingerprint of the settings that decide algorithms: WEFT_ALGO and WEFT_CROSS_MEMORY by
/// value (unset, empty and the default alike), WEFT_TUNING and WEFT_TOPOLOGY by the files'
/// contents (the same file may sit at another path on another host).
static uint64_t settings_hash(void) {
    const char *names[4] = {"WEFT_ALGO", "WEFT_CROSS_MEMORY", "WEFT_TUNING", "WEFT_TOPOLOGY"};
    const char *defaults[4] = {"auto", "1", "", ""};
    uint64_t hash = WEFT_FINGERPRINT_START;
    for (int i = 0; i < 4; i++) {
        const char *value = getenv(names[i]);
        if (!value || strcmp(value, defaults[i]) == 0) value = "";
        hash = weft_fingerprint(hash, names[i], strlen(names[i]) + 1);
        FILE *file = i >= 2 && value[0] ? fopen(value, "rb") : NULL;
        if (!file) {
            hash = weft_fingerprint(hash, value, strlen(value) + 1);
            continue;
        }
        char block[4096];
        size_t n;
        while ((n = fread(block, 1, sizeof block, file)) > 0) hash = weft_fingerprint(hash, block, n);
        fclose(file);
    }
    return hash;
}

/// WEFT_REPORT names a file rank 0 writes at MPI_Finalize (replacing it by rename): it must
/// be a regular file or not exist yet, in a folder that exists and is writable.
static const char *check_report(const char *report, char *error, size_t length) {
    struct stat target;
    if (stat(report, &target) == 0 && !S_ISREG(target.st_mode)) {
        snprintf(error, length, "WEFT_REPORT=%s: %s, not a file; name a file to write (it is replaced at MPI_Finalize)",
                 report, S_ISDIR(target.st_mode) ? "is a folder" : "is a device or other special file");
        return error;
    }
    char folder[4096];
    snprintf(folder, sizeof folder, "%s", report);
    char *slash = strrchr(folder, '/');
    if (!slash) snprintf(folder, sizeof folder, ".");
    else if (slash == folder) slash[1] = 0;
    else *slash = 0;
    struct stat place;
    if (stat(folder, &place) != 0 || !S_ISDIR(place.st_mode) || access(folder, W_OK) != 0) {
        snprintf(error, length, "WEFT_REPORT=%s: folder %s does not exist or is not writable; create it or name another file",
                 report, folder);
        return error;
    }
    return NULL;
}

/// This rank's own settings, checked without talking to other ranks; NULL if they are fine.
static const char *check_local(char *error, size_t length) {
    // Only rank 0 writes the report: other ranks' disks need not have its folder.
    const char *report = getenv("WEFT_REPORT");
    if (weft_ip_world_rank == 0 && report && report[0] && check_report(report, error, length)) return error;
    // A program may legitimately keep peers waiting for minutes, as native MPI allows:
    // no timeout unless the user asks for one.
    double timeout = 0;
    const char *text = getenv("WEFT_TIMEOUT");
    if (text && text[0]) {
        char *end = NULL;
        timeout = strtod(text, &end);
        if (*end || !isfinite(timeout) || timeout < 0) {
            snprintf(error, length, "WEFT_TIMEOUT='%s' is not a number of seconds >= 0 (0: wait forever)", text);
            return error;
        }
    }
    weft_set_timeout(timeout);
    int yield = weft_yield_setting(error, (int)length);
    if (yield < 0) return error;
    weft_set_yield(yield);
    // Differing values are safe: a communicator opens sockets only where every rank wants them.
    int sockets = weft_across_setting(error, (int)length);
    if (sockets < 0) return error;
    weft_ip_sockets = sockets;
    return NULL;
}

/// The Swift runtime this library brings into the program installs its crash backtracer's
/// handlers for SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT and SIGQUIT as it loads —
/// before the program's main, inside someone else's process. There a raised signal was
/// handled and the program ran on (a rank that crashed mid-job let the job exit 0), and
/// Open MPI, finding handlers in place, did not install its own. Runs after the runtime's
/// initialisers (a dependency's come first): every such handler that lies in a Swift
/// library goes back to the default action; anyone else's is left alone.
__attribute__((constructor)) static void restore_crash_signals(void) {
    static const int signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGQUIT};
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++) {
        struct sigaction current;
        if (sigaction(signals[i], NULL, &current) != 0) continue;
        void *handler = current.sa_flags & SA_SIGINFO ? (void *)current.sa_sigaction : (void *)current.sa_handler;
        if (handler == (void *)SIG_DFL || handler == (void *)SIG_IGN) continue;
        Dl_info where;
        if (!dladdr(handler, &where) || !where.dli_fname || !strstr(where.dli_fname, "libswift")) continue;
        struct sigaction fallback = {0};
        fallback.sa_handler = SIG_DFL;
        sigemptyset(&fallback.sa_mask);
        sigaction(signals[i], &fallback, NULL);
    }
}

static void setup(void) {
    int size = 1, provided = MPI_THREAD_SINGLE;
    PMPI_Comm_rank(MPI_COMM_WORLD, &weft_ip_world_rank);
    PMPI_Comm_size(MPI_COMM_WORLD, &size);
    PMPI_Query_thread(&provided);
    // Weft's path keeps per-communicator scratch and runs one collective at a time; with
    // MPI_THREAD_MULTIPLE every call goes to Open MPI, which is thread-safe. So does every call
    // of a `use mpi_f08` program, whose collectives never pass through this library. Ranks may
    // differ (MPI lets each ask its own thread level; an MPMD job may mix C and mpi_f08
    // programs), and one forwarding while another runs Weft's schedule would hang: if any
    // rank forwards everything, all do.
    weft_ip_forward_all = provided == MPI_THREAD_MULTIPLE || weft_ip_init_f08;
    if (size > 1) {
        int any = weft_ip_forward_all;
        PMPI_Allreduce(&weft_ip_forward_all, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        weft_ip_forward_all = any;
    }
    const char *verbose = getenv("WEFT_VERBOSE");
    weft_ip_verbose = verbose && strcmp(verbose, "0") != 0 && verbose[0];

    char error[2048];
    agree(check_local(error, sizeof error));
    // A descriptor (WEFT_TOPOLOGY) is checked against where MPI put the ranks: which share a
    // node, and the hosts' names for the message. Learning that is collective, so the ranks
    // first agree that all of them have a descriptor or none has.
    const char *topology = getenv("WEFT_TOPOLOGY");
    int described = topology && topology[0], all = described, any = described;
    if (size > 1) {
        PMPI_Allreduce(&described, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
        PMPI_Allreduce(&described, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    }
    agree(all == any ? NULL : "WEFT_TOPOLOGY is set on some ranks and not on others; give every rank the same descriptor");
    int32_t *keys = NULL;
    char *names = NULL;
    if (described && size > 1) {
        weft_comm_t world = NULL;
        keys = calloc((size_t)size, sizeof *keys);
        names = calloc((size_t)size, WEFT_HOST_NAME_BYTES);
        agree(!keys || !names ? "WEFT_TOPOLOGY: out of memory for the node layout" : NULL);
        // Agreed after each collective step, so a rank that fails one never leaves the
        // others waiting in the next.
        const char *unknown = "WEFT_TOPOLOGY: cannot learn from MPI which ranks share a node";
        agree(weft_comm_world(&world) == WEFT_OK ? NULL : unknown);
        agree(weft_comm_node_keys(world, keys) == WEFT_OK ? NULL : unknown);
        agree(weft_comm_host_names(world, names) == WEFT_OK ? NULL : unknown);
        weft_comm_free(world);
    }
    const char *reason = weft_ip_configure(size, keys, names, error, sizeof error) != 0 ? error : NULL;
    free(keys);
    free(names);
    agree(reason);
    // Valid but different settings would have ranks pick different algorithms: a hang.
    uint64_t mine = settings_hash(), low = mine, high = mine;
    if (size > 1) {
        PMPI_Allreduce(&mine, &low, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
        PMPI_Allreduce(&mine, &high, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    }
    agree(low == high ? NULL
                      : "WEFT_ALGO, WEFT_CROSS_MEMORY, WEFT_TUNING or WEFT_TOPOLOGY differ between ranks (files by "
                        "their contents); give every rank the same settings");
    weft_ip_mpi = weft_ip_algorithm_mpi();
    agree(weft_ip_state_keyval_create() != MPI_SUCCESS ? "cannot create the communicator attribute key" : NULL);
    // Split, not dup: it copies none of the program's attributes. Only this process takes part.
    if (PMPI_Comm_split(MPI_COMM_SELF, 0, 0, &weft_ip_self) == MPI_SUCCESS)
        PMPI_Comm_set_errhandler(weft_ip_self, MPI_ERRORS_RETURN);
    else
        weft_ip_self = MPI_COMM_NULL;
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
        if (weft_ip_self != MPI_COMM_NULL) PMPI_Comm_free(&weft_ip_self);
        weft_ip_active = 0;
    }
    return PMPI_Finalize();
}
