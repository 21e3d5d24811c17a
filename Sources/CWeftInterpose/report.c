// What the library did, for WEFT_REPORT: per collective, this rank's calls, how many ran on
// a Weft schedule and how many went to Open MPI, the bytes, and the algorithms used; and the
// transfers it read from node-mates' buffers (pulls, across nodes).
// Rank 0 of MPI_COMM_WORLD writes it at MPI_Finalize, atomically (temporary file, fsync, rename).
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "interpose.h"

enum { MAX_ALGORITHMS = 64 };

static const char *collective_names[WEFT_IP_COLLECTIVES] = {"allreduce", "reduce-scatter", "allgather", "broadcast",
                                                            "reduce", "barrier", "alltoall"};
static int64_t calls[WEFT_IP_COLLECTIVES][MAX_ALGORITHMS];
static int64_t bytes[WEFT_IP_COLLECTIVES];
static int64_t pulled; // transfers read from a node-mate's buffer (pulls) instead of received

void weft_ip_algorithm_label(int algorithm, char *name, int length) { weft_ip_algorithm_name(algorithm, name, length); }

void weft_ip_count(int collective, int64_t count, int algorithm) {
    if (!weft_ip_active || algorithm < 0 || algorithm >= MAX_ALGORITHMS) return;
    // Under MPI_THREAD_MULTIPLE several threads count forwarded calls at once; otherwise one
    // thread calls, and plain increments keep a forwarded small call's overhead down.
    if (weft_ip_forward_all) {
        __atomic_fetch_add(&calls[collective][algorithm], 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&bytes[collective], count, __ATOMIC_RELAXED);
    } else {
        calls[collective][algorithm]++;
        bytes[collective] += count;
    }
}

void weft_ip_count_pulls(int pulls) { pulled += pulls; }

// Where a write to `requested` lands: the file a symbolic link there points to (through
// chains of links), else `requested` — as weft's own files (writeTarget), so the report
// updates a linked file instead of replacing the link with a regular file.
static void write_target(const char *requested, char *path, size_t size) {
    snprintf(path, size, "%s", requested);
    for (int i = 0; i < 40; i++) { // the most links Linux follows in one lookup
        char link[4096], joined[8192];
        ssize_t n = readlink(path, link, sizeof link - 1);
        if (n < 0) return;
        link[n] = 0;
        const char *slash = strrchr(path, '/');
        if (link[0] == '/' || !slash) snprintf(joined, sizeof joined, "%s", link);
        else snprintf(joined, sizeof joined, "%.*s%s", (int)(slash - path + 1), path, link);
        snprintf(path, size, "%s", joined);
    }
}

void weft_ip_report_write(void) {
    const char *requested = getenv("WEFT_REPORT");
    if (!requested || !requested[0] || weft_ip_world_rank != 0) return;
    char path[4096];
    write_target(requested, path, sizeof path);
    char temporary[4096];
    snprintf(temporary, sizeof temporary, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(temporary, "w");
    if (!f) {
        fprintf(stderr, "weft-mpi: error: WEFT_REPORT: cannot write %s: %s\n", temporary, strerror(errno));
        return;
    }
    int algorithms = weft_ip_algorithm_count();
    if (algorithms > MAX_ALGORITHMS) algorithms = MAX_ALGORITHMS;
    fprintf(f, "{\"collectives\": {");
    for (int c = 0; c < WEFT_IP_COLLECTIVES; c++) {
        int64_t total = 0, native = calls[c][weft_ip_mpi];
        for (int a = 0; a < algorithms; a++) total += calls[c][a];
        fprintf(f, "%s\"%s\": {\"calls\": %lld, \"weft\": %lld, \"native\": %lld, \"bytes\": %lld, \"algorithms\": {",
                c ? ", " : "", collective_names[c], (long long)total, (long long)(total - native), (long long)native,
                (long long)bytes[c]);
        int first = 1;
        for (int a = 0; a < algorithms; a++) {
            if (!calls[c][a]) continue;
            char name[32];
            weft_ip_algorithm_name(a, name, sizeof name);
            fprintf(f, "%s\"%s\": %lld", first ? "" : ", ", name, (long long)calls[c][a]);
            first = 0;
        }
        fprintf(f, "}}");
    }
    fprintf(f, "}, \"pulled_transfers\": %lld}\n", (long long)pulled);
    // Flushed and synced before the rename, as weft's own files are (WeftNN's writeAtomically).
    int failed = fflush(f) != 0 || (fsync(fileno(f)) != 0 && errno != EINVAL && errno != ENOTSUP);
    if (fclose(f) != 0 || failed || rename(temporary, path) != 0) {
        fprintf(stderr, "weft-mpi: error: WEFT_REPORT: cannot write %s: %s\n", path, strerror(errno));
        remove(temporary);
    }
}
