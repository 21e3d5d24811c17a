/// Two-level broadcast and reduce. The message is cut into P segments of S shards (chunk
/// g·S + s); per shard, a chain of its owners runs across the nodes in ring order from the
/// root's node, and segment g follows segment g − 1 one step behind (P from
/// `Schedules.segments`, about 256 KiB each).
///
/// Bytes per rank, M the message, N nodes of k ranks: across, M/k in and out per owner
/// (the chain's ends only one way); inside, (k−1)/k·M into each rank (broadcast) or out of
/// each rank (reduce), and (k−1)/k·M out of the root (broadcast) or into it (reduce).
/// Steps: (N − 1) + (P − 1), plus one on each side of the chain where nodes have several
/// ranks.
extension TwoLevel {
    /// 1. Inside the root's node: the root scatters the shards to their owners.
    /// 2. Across: per shard, a chain of owners from the root's node round the ring of nodes.
    /// 3. Inside every node: owners send their shards to the node's other ranks (an
    ///    allgather of shards), each segment as soon as it arrived.
    static func broadcast(_ g: NodeShards, root: Int, segments: Int) -> Schedule {
        let shards = g.shards, count = g.count, home = g.nodeOf[root]
        func chunk(_ segment: Int, _ s: Int) -> Int { segment * shards + s }
        var table = StepTable()
        // The root's node needs one step to scatter before the chain starts.
        let scatter = g.nodes[home].count > 1 ? 1 : 0
        for segment in 0..<segments {
            for s in 0..<shards {
                let c = chunk(segment, s)
                if g.owner(home, s) != root {
                    table.add(step: segment, from: root, to: g.owner(home, s), chunk: c, reduce: false)
                }
                for j in 0..<count {
                    let n = g.node(home, plus: j), owner = g.owner(n, s)
                    if j > 0 {
                        table.add(step: scatter + j - 1 + segment, from: g.owner(g.node(home, plus: j - 1), s),
                                  to: owner, chunk: c, reduce: false)
                    }
                    for r in g.nodes[n] where r != owner && r != root {
                        table.add(step: scatter + j + segment, from: owner, to: r, chunk: c, reduce: false)
                    }
                }
            }
        }
        return Schedule(collective: .broadcast, algorithm: algorithm, ranks: g.ranks, root: root,
                        layout: ChunkLayout(blocks: 1, chunksPerBlock: shards * segments), steps: table.steps)
    }

    /// The mirror of broadcast.
    /// 1. Inside every node: each rank sends the shards it does not own to their owners,
    ///    which reduce them (a direct reduce-scatter).
    /// 2. Across: per shard, a chain of owners round the ring of nodes ending at the root's
    ///    node, each reducing what it receives into its own and passing the sum on.
    /// 3. Inside the root's node: the owners send the reduced shards to the root.
    static func reduce(_ g: NodeShards, root: Int, segments: Int) -> Schedule {
        let shards = g.shards, count = g.count, home = g.nodeOf[root]
        func chunk(_ segment: Int, _ s: Int) -> Int { segment * shards + s }
        var table = StepTable()
        // Every node's reduce-scatter comes before its first hop across.
        let scatter = g.nodes.contains { $0.count > 1 } ? 1 : 0
        for segment in 0..<segments {
            for s in 0..<shards {
                let c = chunk(segment, s)
                for (n, node) in g.nodes.enumerated() {
                    for r in node where r != g.owner(n, s) {
                        table.add(step: segment, from: r, to: g.owner(n, s), chunk: c, reduce: true)
                    }
                }
                // The node j places after the root's sends to the one before it, far end first.
                for j in stride(from: count - 1, to: 0, by: -1) {
                    table.add(step: scatter + (count - 1 - j) + segment, from: g.owner(g.node(home, plus: j), s),
                              to: g.owner(g.node(home, plus: j - 1), s), chunk: c, reduce: true)
                }
                if g.owner(home, s) != root {
                    table.add(step: scatter + count - 1 + segment, from: g.owner(home, s), to: root, chunk: c,
                              reduce: false)
                }
            }
        }
        return Schedule(collective: .reduce, algorithm: algorithm, ranks: g.ranks, root: root,
                        layout: ChunkLayout(blocks: 1, chunksPerBlock: shards * segments), steps: table.steps)
    }
}

/// Transfers placed at computed step numbers (pipelined schedules work out each segment's
/// step from its position on the chain); steps left empty are dropped.
private struct StepTable {
    private var transfers: [ChunkTransfers] = []

    mutating func add(step: Int, from: Int, to: Int, chunk: Int, reduce: Bool) {
        while transfers.count <= step { transfers.append(ChunkTransfers()) }
        transfers[step].add(from: from, to: to, chunk: chunk, reduce: reduce)
    }

    var steps: [[ScheduleOperation]] { transfers.filter { !$0.isEmpty }.map(\.operations) }
}
