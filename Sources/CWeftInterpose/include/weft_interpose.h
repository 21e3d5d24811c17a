// libweft-mpi.so: the MPI profiling-interface (PMPI) layer that gives an unmodified MPI
// program Weft's collectives. The C side owns the MPI entry points, per-communicator state,
// execution and the report; the Swift side (WeftInterpose) owns policy: configuration from
// WEFT_* variables, `auto`'s size ranges and the schedules, reached through these calls.
#ifndef WEFT_INTERPOSE_H
#define WEFT_INTERPOSE_H

#include <stdint.h>

#include "cweft.h"

#ifdef __cplusplus
extern "C" {
#endif

/// Collectives in the order of Swift's `Collective.allCases`.
enum {
    WEFT_IP_ALLREDUCE = 0,
    WEFT_IP_REDUCE_SCATTER = 1,
    WEFT_IP_ALLGATHER = 2,
    WEFT_IP_BROADCAST = 3,
    WEFT_IP_REDUCE = 4,
    WEFT_IP_BARRIER = 5,
    WEFT_IP_ALLTOALL = 6,
    WEFT_IP_COLLECTIVES = 7,
};

/// One size range of `auto`'s decision: [min_bytes, max_bytes) runs `algorithm` (an index
/// of Swift's `Algorithm.allCases`).
typedef struct {
    int64_t min_bytes;
    int64_t max_bytes;
    int32_t algorithm;
} weft_ip_rule_t;

/// One rank's lowered schedule (owned by the Swift side, valid until exit).
typedef struct {
    const weft_schedule_op_t *ops;
    int64_t count;
    int64_t blocks;
    int64_t chunks_per_block;
    int32_t shared;
    int32_t pulls; // transfers this rank reads from a node-mate per call (CWeft's pull.c)
} weft_ip_program_t;

/// Reads WEFT_ALGO, WEFT_TUNING and WEFT_TOPOLOGY for a job of `world_size` ranks. Returns 0,
/// or non-zero with one line in `error` naming the variable, the problem and the fix.
/// `node_keys` (lowest world rank on each rank's node) and `host_names` (WEFT_HOST_NAME_BYTES
/// per rank) check the descriptor's placement; NULL skips the check.
int weft_ip_configure(int32_t world_size, const int32_t *node_keys, const char *host_names, char *error,
                      int32_t length);
/// Number of algorithms and the name of one (for the report and WEFT_VERBOSE).
int32_t weft_ip_algorithm_count(void);
void weft_ip_algorithm_name(int32_t algorithm, char *name, int32_t length);
/// Index of the native algorithm (`mpi`).
int32_t weft_ip_algorithm_mpi(void);
/// `auto`'s decision for a communicator as size ranges; returns how many were written.
/// `node_keys` (the lowest rank on each rank's node, or NULL if unknown) tells whether ranks
/// sit on their nodes round-robin or consecutively. `cross_memory`: on one node, peers'
/// buffers are reachable by cross-memory attach; across nodes, pulls run inside nodes.
/// `sockets`: messages between nodes go over Weft's own connections (CWeft's sockets.c).
int32_t weft_ip_rules(int32_t collective, int32_t ranks, int32_t node_local, int32_t cross_memory,
                      int32_t world_congruent, int32_t sockets, const int32_t *node_keys, weft_ip_rule_t *rules,
                      int32_t capacity);
/// Whether `algorithm` can run `collective` on such a communicator (1) or not (0).
int32_t weft_ip_serves(int32_t collective, int32_t algorithm, int32_t node_local, int32_t cross_memory,
                       int32_t world_congruent);
/// The program of `rank` for a request of `bytes`; 0, or non-zero with the reason in `error`.
/// `node_keys[r]`: the lowest rank on rank r's node (node-aware algorithms); `pulls`: whether
/// transfers between node-mates that `NodePulls` picks run as pulls (the communicator has a
/// pull block).
int32_t weft_ip_program(int32_t collective, int32_t algorithm, int32_t ranks, int32_t rank, int32_t root,
                        int64_t bytes, int32_t world_congruent, const int32_t *node_keys, int32_t pulls,
                        weft_ip_program_t *out, char *error, int32_t length);

#ifdef __cplusplus
}
#endif
#endif
