/// Two-level reduce-scatter and allgather. Block b (rank b's) is cut into S shards, chunk
/// b·S + s; across nodes, per shard, the shard's owners exchange the nodes' pieces (node
/// m's piece: shard s of every block of node m's ranks): in a ring, or — below 512 KiB on a
/// power-of-two node count of at least 4 (`TwoLevel.segments(for:bytes:ranks:)`) — by recursive halving
/// (reduce-scatter) and doubling (allgather), log₂N steps instead of N − 1.
///
/// Bytes per rank, M the message, N nodes of k ranks: (k−1)/k·M inside, (N−1)/N·M/k
/// across — each node's traffic across is (N−1)/N·M, the ring's bound, spread over its k
/// ranks, either way. Steps: 1 + (N−1), or 1 + log₂N.
extension TwoLevel {
    /// 1. Inside each node (one step): every rank sends its node's ranks their own blocks,
    ///    and the shards of other nodes' blocks to the shards' owners; all reduce.
    /// 2. Across (N−1 steps): per shard a ring reduce-scatter of the nodes' pieces among the
    ///    owners. The last hop delivers each shard straight to its block's rank, which holds
    ///    its node's sum of its block since step 1: nothing is left to hand out.
    ///    By halving instead: at distance d (N/2 down to 1) node n sends node n ^ d the half
    ///    of its pieces on n ^ d's side; the piece of n ^ d itself goes straight to its
    ///    block's ranks, which hold their node's part since step 1, so no owner ever keeps
    ///    its own node's piece.
    static func reduceScatter(_ g: NodeShards, halving: Bool) -> Schedule {
        let shards = g.shards, count = g.count
        func chunk(_ b: Int, _ s: Int) -> Int { b * shards + s }
        var steps: [[ScheduleOperation]] = []
        let inside = insideStep(g, towardOwners: true)
        if !inside.isEmpty { steps.append(inside) }
        if halving && halves(count) {
            var d = count / 2
            while d >= 1 {
                var across = ChunkTransfers()
                for n in 0..<count {
                    let partner = n ^ d
                    for piece in 0..<count where piece & ~(d - 1) == partner & ~(d - 1) {
                        for s in 0..<shards {
                            for b in g.nodes[piece] {
                                across.add(from: g.owner(n, s), to: piece == partner ? b : g.owner(partner, s),
                                           chunk: chunk(b, s), reduce: true)
                            }
                        }
                    }
                }
                steps.append(across.operations)
                d /= 2
            }
        } else {
            for t in 0..<max(0, count - 1) {
                var across = ChunkTransfers()
                for n in 0..<count {
                    // As in the ring: node n passes on the piece of node n − t − 1.
                    let next = g.node(n, plus: 1), piece = g.node(n, plus: -t - 1)
                    for s in 0..<shards {
                        for b in g.nodes[piece] {
                            let to = t == count - 2 ? b : g.owner(next, s)
                            across.add(from: g.owner(n, s), to: to, chunk: chunk(b, s), reduce: true)
                        }
                    }
                }
                steps.append(across.operations)
            }
        }
        return Schedule(collective: .reduceScatter, algorithm: algorithm, ranks: g.ranks,
                        layout: ChunkLayout(blocks: g.ranks, chunksPerBlock: shards), steps: steps)
    }

    /// The reverse of reduce-scatter.
    /// 1. Across (N−1 steps): per shard a ring allgather of the nodes' pieces among the
    ///    owners; the first hop reads each shard straight from its block's rank.
    /// 2. Inside each node (one step): every rank sends its block to its node's ranks, and
    ///    owners send the shards of other nodes' blocks they received.
    ///    By doubling instead: at distance d (1 up to N/2) node n sends node n ^ d the d
    ///    pieces it has, its own read straight from its blocks' ranks.
    static func allgather(_ g: NodeShards, halving: Bool) -> Schedule {
        let shards = g.shards, count = g.count
        func chunk(_ b: Int, _ s: Int) -> Int { b * shards + s }
        var steps: [[ScheduleOperation]] = []
        if halving && halves(count) {
            var d = 1
            while d < count {
                var across = ChunkTransfers()
                for n in 0..<count {
                    for piece in 0..<count where piece & ~(d - 1) == n & ~(d - 1) {
                        for s in 0..<shards {
                            for b in g.nodes[piece] {
                                across.add(from: piece == n ? b : g.owner(n, s), to: g.owner(n ^ d, s),
                                           chunk: chunk(b, s), reduce: false)
                            }
                        }
                    }
                }
                steps.append(across.operations)
                d *= 2
            }
        } else {
            for t in 0..<max(0, count - 1) {
                var across = ChunkTransfers()
                for n in 0..<count {
                    // As in the ring: node n passes on the piece of node n − t (its own first).
                    let next = g.node(n, plus: 1), piece = g.node(n, plus: -t)
                    for s in 0..<shards {
                        for b in g.nodes[piece] {
                            across.add(from: t == 0 ? b : g.owner(n, s), to: g.owner(next, s), chunk: chunk(b, s),
                                       reduce: false)
                        }
                    }
                }
                steps.append(across.operations)
            }
        }
        let inside = insideStep(g, towardOwners: false)
        if !inside.isEmpty { steps.append(inside) }
        return Schedule(collective: .allgather, algorithm: algorithm, ranks: g.ranks,
                        layout: ChunkLayout(blocks: g.ranks, chunksPerBlock: shards), steps: steps)
    }

    /// Whether the nodes' pieces can be halved across: a power-of-two node count of at least
    /// 4 (for other counts recursive halving would fold whole pieces across twice).
    static func halves(_ count: Int) -> Bool { count >= 4 && count & (count - 1) == 0 }

    /// The step inside each node, the same pairs both ways: for reduce-scatter every rank
    /// sends (reducing) its node-mates their blocks and other nodes' shards to the shards'
    /// owners; for allgather the same pieces come back from them.
    static func insideStep(_ g: NodeShards, towardOwners: Bool) -> [ScheduleOperation] {
        let shards = g.shards
        var inside = ChunkTransfers()
        func add(_ r: Int, _ holder: Int, chunk: Int, count: Int = 1) {
            if towardOwners {
                inside.add(from: r, to: holder, chunk: chunk, count: count, reduce: true)
            } else {
                inside.add(from: holder, to: r, chunk: chunk, count: count, reduce: false)
            }
        }
        for (n, node) in g.nodes.enumerated() {
            for r in node {
                for b in 0..<g.ranks where b != r {
                    if g.nodeOf[b] == n {
                        add(r, b, chunk: b * shards, count: shards)
                        continue
                    }
                    for s in 0..<shards where g.owner(n, s) != r {
                        add(r, g.owner(n, s), chunk: b * shards + s)
                    }
                }
            }
        }
        return inside.isEmpty ? [] : inside.operations
    }
}
