/// Two-level broadcast and reduce. The message is cut into P segments of S shards (chunk
/// g·S + s); per shard, its owners pass it across the nodes (P from `Schedules.segments`,
/// about 256 KiB each): a message of several segments runs a chain of owners in ring order
/// from the root's node, segment g one step behind segment g − 1; a message of one segment
/// (under 512 KiB) a binomial tree of the nodes, ⌈log₂N⌉ steps instead of N − 1.
///
/// Bytes per rank, M the message, N nodes of k ranks: across, M/k in and out per owner on
/// the chain (its ends only one way; a tree's inner owners send up to ⌈log₂N⌉ times);
/// inside, (k−1)/k·M into each rank (broadcast) or out of each rank (reduce), and (k−1)/k·M
/// out of the root (broadcast) or into it (reduce). Steps: the chain's (N − 1) + (P − 1) or
/// the tree's ⌈log₂N⌉, plus one on each side where nodes have several ranks.
extension TwoLevel {
    /// 1. Inside the root's node: the root scatters the shards to their owners.
    /// 2. Across: per shard, from the root's node's owner to every node's owner (a chain
    ///    round the ring of nodes, or a binomial tree for one segment: `AcrossNodes`).
    /// 3. Inside every node: owners send their shards to the node's other ranks (an
    ///    allgather of shards), each segment as soon as it arrived.
    static func broadcast(_ g: NodeShards, root: Int, segments: Int) -> Schedule {
        let shards = g.shards, count = g.count, home = g.nodeOf[root]
        let across = AcrossNodes(count: count, segments: segments)
        func chunk(_ segment: Int, _ s: Int) -> Int { segment * shards + s }
        var table = StepTable()
        // The root's node needs one step to scatter before the shards go across.
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
                        table.add(step: scatter + across.round(j) + segment,
                                  from: g.owner(g.node(home, plus: across.parent(j)), s), to: owner, chunk: c,
                                  reduce: false)
                    }
                    // As soon as the shard arrived, to the node's other ranks.
                    let arrived = j > 0 ? across.round(j) + 1 : 0
                    for r in g.nodes[n] where r != owner && r != root {
                        table.add(step: scatter + arrived + segment, from: owner, to: r, chunk: c, reduce: false)
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
    /// 2. Across: per shard, broadcast's chain or tree reversed, ending at the root's node's
    ///    owner, each owner reducing what it receives into its own and passing the sum on.
    /// 3. Inside the root's node: the owners send the reduced shards to the root.
    static func reduce(_ g: NodeShards, root: Int, segments: Int) -> Schedule {
        let shards = g.shards, count = g.count, home = g.nodeOf[root]
        let across = AcrossNodes(count: count, segments: segments)
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
                // Broadcast's hops reversed in time: a node sends once everything below it arrived.
                for j in 1..<count {
                    table.add(step: scatter + (across.rounds - 1 - across.round(j)) + segment,
                              from: g.owner(g.node(home, plus: j), s),
                              to: g.owner(g.node(home, plus: across.parent(j)), s), chunk: c, reduce: true)
                }
                if g.owner(home, s) != root {
                    table.add(step: scatter + across.rounds + segment, from: g.owner(home, s), to: root, chunk: c,
                              reduce: false)
                }
            }
        }
        return Schedule(collective: .reduce, algorithm: algorithm, ranks: g.ranks, root: root,
                        layout: ChunkLayout(blocks: 1, chunksPerBlock: shards * segments), steps: table.steps)
    }
}

/// How broadcast's shards travel across nodes, by node position j after the root's node
/// (0 = the root's node): from node `parent(j)` in round `round(j)` of `rounds`. A chain
/// (j − 1 in round j − 1) pipelines several segments; a binomial tree (j minus its highest
/// power of two, in the round of that bit) takes ⌈log₂N⌉ rounds for a single segment.
private struct AcrossNodes {
    let tree: Bool
    let rounds: Int

    init(count: Int, segments: Int) {
        tree = segments == 1 && count > 2
        var bits = 0
        while 1 << bits < count { bits += 1 }
        rounds = tree ? bits : max(count - 1, 0)
    }

    func parent(_ j: Int) -> Int { tree ? j - highestPower(j) : j - 1 }

    func round(_ j: Int) -> Int { tree ? highestPower(j).trailingZeroBitCount : j - 1 }

    private func highestPower(_ j: Int) -> Int { 1 << (Int.bitWidth - 1 - j.leadingZeroBitCount) }
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
