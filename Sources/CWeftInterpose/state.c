// Per-communicator state of the interposition library, cached as an MPI attribute (as
// profiling tools and collective components do) so it dies with the communicator: the
// attribute's delete callback releases the private communicator and the shared control
// block. Everything is decided here from values all ranks share and agreed on with a
// PMPI_Allreduce, so ranks never take different paths.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "interpose.h"

static int keyval = MPI_KEYVAL_INVALID;
static weft_ip_state_t *states; // every live state, for release at MPI_Finalize
static int created;
/// Live private communicators (see create), and how many may live at once.
static int privates;
enum { PRIVATE_COMMUNICATORS = 4096 };

// The last communicator looked up and its state: a program calls collectives on one
// communicator again and again, and an attribute lookup costs more than the forwarding it
// decides. Cleared when that state is released, so a freed handle reused for a new
// communicator never finds the old state.
MPI_Comm weft_ip_cached_comm = MPI_COMM_NULL;
weft_ip_state_t *weft_ip_cached_state;

static void release(weft_ip_state_t *s) {
    if (weft_ip_cached_state == s) {
        weft_ip_cached_state = NULL;
        weft_ip_cached_comm = MPI_COMM_NULL;
    }
    if (s->previous) s->previous->next = s->next; else if (states == s) states = s->next;
    if (s->next) s->next->previous = s->previous;
    if (s->internal) {
        weft_comm_free(s->internal);
        privates--;
    }
    if (s->control) munmap(s->control, s->control_bytes);
    if (s->pull_control) munmap(s->pull_control, s->pull_bytes);
    free(s->pull_slots);
    free(s->pids);
    free(s->node_keys);
    free(s->temp);
    free(s->scratch);
    free(s);
}

static int delete_state(MPI_Comm comm, int key, void *value, void *extra) {
    (void)comm, (void)key, (void)extra;
    release(value);
    return MPI_SUCCESS;
}

int weft_ip_state_keyval_create(void) {
    return PMPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, delete_state, &keyval, NULL);
}

void weft_ip_state_release_all(void) {
    while (states) {
        weft_ip_state_t *s = states;
        MPI_Comm comm = s->comm;
        // Deleting the attribute runs delete_state, which unlinks and frees `s`.
        if (PMPI_Comm_delete_attr(comm, keyval) != MPI_SUCCESS) release(s);
    }
    if (keyval != MPI_KEYVAL_INVALID) PMPI_Comm_free_keyval(&keyval);
}

static int agree(int value, MPI_Comm comm) {
    int all = 0;
    if (PMPI_Allreduce(&value, &all, 1, MPI_INT, MPI_LAND, comm) != MPI_SUCCESS) return 0;
    return all;
}

/// Maps one zeroed POSIX shared-memory segment of `bytes` on every rank of `comm` (its rank 0
/// names it, the others open it, then the name is unlinked so nothing outlives the job).
/// NULL where this rank could not map it; the caller agrees.
static void *map_segment(MPI_Comm comm, size_t bytes, char kind) {
    int rank = 0, ok = 1, fd = -1;
    char name[64] = {0};
    PMPI_Comm_rank(comm, &rank);
    if (rank == 0) {
        snprintf(name, sizeof name, "/weft-mpi-%d-%d-%c", (int)getpid(), created, kind);
        fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
        ok = fd >= 0 && ftruncate(fd, (off_t)bytes) == 0;
        if (!ok) { // an empty name tells the others not to map a segment of the wrong size
            if (fd >= 0) shm_unlink(name);
            name[0] = 0;
        }
    }
    if (PMPI_Bcast(name, sizeof name, MPI_CHAR, 0, comm) != MPI_SUCCESS) ok = 0;
    if (rank != 0 && name[0]) fd = shm_open(name, O_RDWR, 0600);
    void *p = NULL;
    if (ok && fd >= 0) {
        p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) p = NULL;
    }
    if (fd >= 0) close(fd);
    // Everyone has opened it (or failed to) once the barrier is passed.
    PMPI_Barrier(comm);
    if (rank == 0 && name[0]) shm_unlink(name);
    return p;
}

/// The control block of a communicator on one node: barrier, then one slot per rank.
static int map_control(weft_ip_state_t *s, MPI_Comm comm) {
    s->control_bytes = (size_t)weft_cross_memory_control_bytes(s->size);
    s->control = map_segment(comm, s->control_bytes, 'c');
    if (agree(s->control != NULL, comm)) return 1;
    if (s->control) munmap(s->control, s->control_bytes);
    s->control = NULL;
    return 0;
}

/// Its address is published; a node-mate reading it proves cross-memory reads work.
static uint64_t probe_word = 0x77656674;

/// Every rank's pid; agreed, so that no rank skips the allgather the others are in.
static int all_pids(weft_ip_state_t *s, MPI_Comm comm) {
    s->pids = calloc((size_t)s->size, sizeof *s->pids);
    if (!agree(s->pids != NULL, comm)) return 0;
    int32_t pid = (int32_t)getpid();
    return PMPI_Allgather(&pid, 1, MPI_INT32_T, s->pids, 1, MPI_INT32_T, comm) == MPI_SUCCESS;
}

static int cross_memory_disabled(void) {
    const char *disabled = getenv("WEFT_CROSS_MEMORY");
    return disabled && strcmp(disabled, "0") == 0;
}

/// Whether every rank can read its neighbour's memory with process_vm_readv (the kernel,
/// a container's seccomp policy or Yama's ptrace scope may forbid it).
static int probe_cross_memory(weft_ip_state_t *s, MPI_Comm comm) {
    if (!all_pids(s, comm) || cross_memory_disabled()) return agree(0, comm);
    weft_cross_memory_slot(s->control, s->size, s->rank)[0] = (uint64_t)(uintptr_t)&probe_word;
    PMPI_Barrier(comm);
    int peer = (s->rank + 1) % s->size;
    uint64_t address = weft_cross_memory_slot(s->control, s->size, peer)[0];
    int ok = weft_cross_memory_probe(s->pids[peer], (const void *)(uintptr_t)address, sizeof probe_word);
    return agree(ok, comm);
}

/// Pulls for a communicator across nodes (two-level's steps inside nodes read node-mates'
/// buffers single-copy; CWeft's pull.c): a pull block shared by each node's ranks, every
/// rank's pid and slot, and a probe that each rank can read its next node-mate. Agreed by
/// all ranks; 0 (messages, as before) where a node has no two ranks, WEFT_CROSS_MEMORY=0,
/// a segment cannot be mapped or a read is forbidden.
static int set_up_pulls(weft_ip_state_t *s, MPI_Comm comm) {
    int shared = 0;
    for (int r = 0; r < s->size && !shared; r++) shared = s->node_keys[r] != r;
    if (!shared) return 0; // one rank per node: nothing to pull (the same answer on every rank)
    s->pull_slots = calloc((size_t)s->size, sizeof *s->pull_slots);
    int slot = 0, mate = s->rank, members = 0;
    for (int r = 0; s->pull_slots && r < s->size; r++) {
        int index = 0;
        for (int q = 0; q < r; q++) index += s->node_keys[q] == s->node_keys[r];
        s->pull_slots[r] = s->node_keys[r] == s->node_keys[s->rank] ? index : -1; // -1: off this node
        if (s->node_keys[r] != s->node_keys[s->rank]) continue;
        if (r == s->rank) slot = index;
        members++;
    }
    for (int r = s->rank + 1; r < s->rank + s->size; r++) // the next rank on this node, wrapping
        if (s->node_keys[r % s->size] == s->node_keys[s->rank]) {
            mate = r % s->size;
            break;
        }
    MPI_Comm node = MPI_COMM_NULL;
    int node_rank = -1, node_size = 0;
    if (!agree(PMPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, s->rank, MPI_INFO_NULL, &node) == MPI_SUCCESS, comm)) {
        if (node != MPI_COMM_NULL) PMPI_Comm_free(&node);
        return 0;
    }
    PMPI_Comm_rank(node, &node_rank);
    PMPI_Comm_size(node, &node_size);
    s->pull_bytes = (size_t)weft_pull_control_bytes(node_size);
    s->pull_control = map_segment(node, s->pull_bytes, 'p');
    int ok = all_pids(s, comm) && s->pull_control && s->pull_slots && !cross_memory_disabled() &&
             node_size == members && node_rank == slot;
    if (s->pull_control) *weft_pull_probe_word(s->pull_control, node_rank) = (uint64_t)(uintptr_t)&probe_word;
    PMPI_Barrier(node);
    if (ok) {
        uint64_t address = *weft_pull_probe_word(s->pull_control, s->pull_slots[mate]);
        ok = weft_cross_memory_probe(s->pids[mate], (const void *)(uintptr_t)address, sizeof probe_word);
    }
    PMPI_Comm_free(&node);
    if (agree(ok, comm)) return 1;
    if (s->pull_control) munmap(s->pull_control, s->pull_bytes);
    s->pull_control = NULL;
    free(s->pull_slots);
    s->pull_slots = NULL;
    return 0;
}

static void print_plan(const weft_ip_state_t *s) {
    static const char *names[WEFT_IP_COLLECTIVES] = {"allreduce", "reduce-scatter", "allgather", "broadcast",
                                                     "reduce", "barrier", "alltoall"};
    char line[4096];
    const char *memory = s->forward                ? ""
                         : s->cross_memory         ? ", cross-memory attach"
                         : s->pulls                ? ", pulls inside nodes"
                         : s->node_local           ? ", no cross-memory attach"
                                                   : ", no pulls inside nodes";
    const char *across = s->forward || s->node_local ? "" : s->sockets ? ", sockets across nodes" : ", MPI across nodes";
    int n = snprintf(line, sizeof line, "weft-mpi: communicator %d: %d ranks, %s%s%s:", s->id, s->size,
                     s->forward ? "forwarded to MPI" : s->node_local ? "one node" : "several nodes", memory, across);
    for (int c = 0; c < WEFT_IP_COLLECTIVES && !s->forward; c++) {
        n += snprintf(line + n, sizeof line - (size_t)n, " %s", names[c]);
        for (int i = 0; i < s->nrules[c] && n < (int)sizeof line - 64; i++) {
            char algorithm[32];
            weft_ip_algorithm_label(s->rules[c][i].algorithm, algorithm, sizeof algorithm);
            n += snprintf(line + n, sizeof line - (size_t)n, "%s%s", i ? "," : " ", algorithm);
            if (s->nrules[c] > 1 && s->rules[c][i].max_bytes != INT64_MAX)
                n += snprintf(line + n, sizeof line - (size_t)n, "<%lld", (long long)s->rules[c][i].max_bytes);
        }
        n += snprintf(line + n, sizeof line - (size_t)n, ";");
    }
    fprintf(stderr, "%s\n", line);
}

static weft_ip_state_t *create(MPI_Comm comm) {
    weft_ip_state_t *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->comm = comm;
    s->id = created++;
    PMPI_Comm_rank(comm, &s->rank);
    PMPI_Comm_size(comm, &s->size);
    int inter = 0;
    PMPI_Comm_test_inter(comm, &inter);
    s->forward = inter || s->size == 1 || weft_ip_forward_all;
    if (!s->forward) {
        MPI_Comm internal = MPI_COMM_NULL, node = MPI_COMM_NULL;
        // Every served communicator holds a private one, taken from the same ~65K ids Open MPI
        // has for the program's: beyond PRIVATE_COMMUNICATORS live ones, further communicators
        // are forwarded (agreed: ranks of this one may hold different numbers), so a program
        // that keeps tens of thousands alive never runs out of ids it had without Weft.
        int ok = agree(privates < PRIVATE_COMMUNICATORS, comm) &&
                 agree(PMPI_Comm_split(comm, 0, s->rank, &internal) == MPI_SUCCESS, comm);
        if (!ok && internal != MPI_COMM_NULL) PMPI_Comm_free(&internal);
        if (!ok || weft_comm_adopt(&internal, &s->internal) != WEFT_OK) {
            s->forward = 1;
        } else {
            privates++;
            int node_size = 0, compare = MPI_UNEQUAL;
            if (PMPI_Comm_split_type(internal, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
                PMPI_Comm_size(node, &node_size);
                PMPI_Comm_free(&node);
            }
            s->node_local = agree(node_size == s->size, internal);
            s->node_keys = calloc((size_t)s->size, sizeof *s->node_keys);
            // The rules read the node layout, so every rank must have it or none may.
            if (!agree(s->node_keys && weft_comm_node_keys(s->internal, s->node_keys) == WEFT_OK, internal)) {
                free(s->node_keys);
                s->node_keys = NULL;
            }
            PMPI_Comm_compare(comm, MPI_COMM_WORLD, &compare);
            s->world_congruent = compare == MPI_IDENT || compare == MPI_CONGRUENT;
            if (s->node_local && map_control(s, internal)) s->cross_memory = probe_cross_memory(s, internal);
            if (!s->node_local && s->node_keys) s->pulls = set_up_pulls(s, internal);
            if (!s->node_local && s->node_keys &&
                weft_comm_open_sockets(s->internal, s->node_keys, weft_ip_sockets, &s->sockets) != WEFT_OK)
                s->sockets = 0;
            for (int c = 0; c < WEFT_IP_COLLECTIVES; c++)
                s->nrules[c] = weft_ip_rules(c, s->size, s->node_local, s->node_local ? s->cross_memory : s->pulls,
                                             s->world_congruent, s->sockets, s->node_keys, s->rules[c],
                                             WEFT_IP_MAX_RULES);
        }
    }
    for (int c = 0; c < WEFT_IP_COLLECTIVES; c++) {
        s->weft_from[c] = INT64_MAX;
        for (int i = 0; !s->forward && i < s->nrules[c]; i++)
            if (s->rules[c][i].algorithm != weft_ip_mpi && s->rules[c][i].min_bytes < s->weft_from[c])
                s->weft_from[c] = s->rules[c][i].min_bytes;
    }
    if (weft_ip_verbose && s->rank == 0) print_plan(s);
    s->next = states;
    if (states) states->previous = s;
    states = s;
    if (PMPI_Comm_set_attr(comm, keyval, s) != MPI_SUCCESS) {
        release(s);
        return NULL;
    }
    return s;
}

weft_ip_state_t *weft_ip_state(MPI_Comm comm) {
    if (comm == weft_ip_cached_comm && weft_ip_cached_state) return weft_ip_cached_state;
    if (!weft_ip_active || comm == MPI_COMM_NULL || keyval == MPI_KEYVAL_INVALID) return NULL;
    void *value = NULL;
    int found = 0;
    if (PMPI_Comm_get_attr(comm, keyval, &value, &found) != MPI_SUCCESS) return NULL;
    weft_ip_state_t *s = found ? value : create(comm);
    weft_ip_cached_comm = s ? comm : MPI_COMM_NULL;
    weft_ip_cached_state = s;
    return s;
}

int weft_ip_choose(const weft_ip_state_t *s, int collective, int64_t bytes) {
    if (s->forward) return weft_ip_mpi;
    for (int i = 0; i < s->nrules[collective]; i++)
        if (bytes >= s->rules[collective][i].min_bytes && bytes < s->rules[collective][i].max_bytes)
            return s->rules[collective][i].algorithm;
    return weft_ip_mpi;
}
