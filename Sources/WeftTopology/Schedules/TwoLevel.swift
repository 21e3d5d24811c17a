/// Node-aware two-level collectives, built from which ranks share a node (MPI tells, via
/// MPI_Comm_split_type) — no topology descriptor. Inside a node ranks exchange directly
/// (one step); across nodes only one rank per node and shard talks, each carrying 1/k of
/// the message, as in Open MPI's coll/han, MPICH's multi-leader collectives and NCCL's
/// rings across nodes. The buffer is cut into S shards, S the largest node's rank count.
///
/// Allreduce (here): on a node of k ranks, local rank i owns shards s ≡ i (mod k).
/// 1. Inside each node (one step): every rank sends each shard it does not own to the
///    shard's owner, which reduces them (a direct reduce-scatter).
/// 2. Across nodes: for every shard, an allreduce among its owners (one per node), all
///    shards at once, chosen by size: below 512 KiB Rabenseifner's (recursive halving, then
///    doubling) when the node count is a power of two of at least 4, else a ring. Both
///    move the bandwidth bound's bytes across; Rabenseifner takes 2·log₂N steps where the
///    ring takes 2(N−1) (for other node counts its fold would send whole shards across
///    twice), but its distant partners contend where the ring's neighbours do not. Simulated
///    on fat trees (k = 8, plain and 2:1 oversubscribed) and a small dragonfly, 16 nodes × 4
///    ranks: 4× faster at 8 B, 22–49 % at 64 KiB, −4 to +22 % at 256 KiB, and 5–19 % slower
///    at 16 MiB.
/// 3. Inside each node (one step): owners send their reduced shards to their node's ranks.
///
/// Reduce-scatter and allgather (TwoLevel+Blockwise.swift), broadcast and reduce
/// (TwoLevel+Rooted.swift) give each local rank a contiguous run of shards (`NodeShards`).
/// Uneven nodes work (a lone rank owns every shard of its node); on one node only the
/// inside steps remain, on one rank per node only the steps across.
public enum TwoLevel: ScheduleGenerator {
    public static let algorithm = Algorithm.twoLevel
    public static let collectives: [Collective] = [.allreduce, .reduceScatter, .allgather, .broadcast, .reduce]
    public static let requirement = ScheduleRequirement.nodeLayout
    /// Any network: the planner weighs it where the descriptor puts several ranks on one
    /// endpoint (`ranks_per_endpoint`), with the ranks grouped by endpoint as nodes.
    public static let networks: [NetworkKind]? = nil
    /// Broadcast and reduce stream segments along the chain of nodes.
    public static func pipelines(_ collective: Collective) -> Bool { [.broadcast, .reduce].contains(collective) }

    /// Broadcast and reduce: their pipeline's segments. The others: their size class, 1
    /// below 512 KiB (halving across where the node count allows), 2 from there (the ring).
    public static func segments(for collective: Collective, bytes: Int, ranks: Int) -> Int {
        if pipelines(collective) { return Schedules.pipelineSegments(for: collective, bytes: bytes, ranks: ranks) }
        return bytes < 512 << 10 ? 1 : 2
    }

    public static func make(_ request: ScheduleRequest) throws -> Schedule {
        try make(request.collective, nodes: request.nodes ?? [], root: request.root, segments: request.segments)
    }

    /// `nodes[n]`: the ranks on node n; together every rank 0..<ranks exactly once.
    /// `root` matters to broadcast and reduce; `segments` to them (pieces of the pipeline)
    /// and to the others (their size class, `segments(for:bytes:ranks:)`).
    public static func make(_ collective: Collective, nodes: [[Int]], root: Int = 0, segments: Int = 1) throws
        -> Schedule
    {
        let ranks = nodes.reduce(0) { $0 + $1.count }
        guard ranks >= 1, nodes.allSatisfy({ !$0.isEmpty }),
              Set(nodes.joined()) == Set(0..<ranks)
        else {
            throw ScheduleError.irregular(algorithm, "the node layout \(nodes) does not list every rank once")
        }
        guard root >= 0 && root < ranks else { throw ScheduleError.invalidRoot(root: root, ranks: ranks) }
        let shards = NodeShards(nodes: nodes)
        switch collective {
        case .allreduce: return allreduce(nodes: nodes, ranks: ranks, halving: segments == 1)
        case .reduceScatter: return reduceScatter(shards, halving: segments == 1)
        case .allgather: return allgather(shards, halving: segments == 1)
        case .broadcast: return broadcast(shards, root: root, segments: max(1, segments))
        case .reduce: return reduce(shards, root: root, segments: max(1, segments))
        case .barrier, .alltoall:
            throw ScheduleError.unsupported(algorithm: algorithm, collective: collective, supported: collectives)
        }
    }

    /// See the type's comment: shards owned round-robin, one step inside, an allreduce per
    /// shard across (Rabenseifner's 2·log₂N steps or the ring's 2(N−1)), one step inside.
    static func allreduce(nodes: [[Int]], ranks: Int, halving: Bool) -> Schedule {
        let collective = Collective.allreduce
        let shards = nodes.map(\.count).max()!, count = nodes.count
        let across = acrossNodes(count, halving: halving)
        let pieces = across.layout.chunks
        /// Shard s, whole (all its pieces).
        func shard(_ s: Int) -> ChunkRange { ChunkRange(s * pieces, count: pieces) }
        func owner(_ node: [Int], _ s: Int) -> Int { node[s % node.count] }

        var steps: [[ScheduleOperation]] = []
        var gather: [ScheduleOperation] = []
        var scatter: [ScheduleOperation] = []
        for node in nodes {
            for s in 0..<shards {
                let o = owner(node, s)
                for r in node where r != o {
                    scatter.append(.transfer(from: r, to: o, source: shard(s), destination: shard(s), reduce: true))
                    gather.append(.transfer(from: o, to: r, source: shard(s), destination: shard(s), reduce: false))
                }
            }
        }
        if !scatter.isEmpty { steps.append(scatter) }
        // The flat allreduce of the node count, once per shard: node n's part is played by
        // the shard's owner on node n, its chunks are the shard's pieces.
        for i in 0..<across.stepCount {
            var step: [ScheduleOperation] = []
            for s in 0..<shards {
                for case .transfer(let from, let to, let source, let destination, let reduce) in across.step(i) {
                    step.append(.transfer(from: owner(nodes[from], s), to: owner(nodes[to], s),
                                          source: ChunkRange(s * pieces + source.start, count: source.count),
                                          destination: ChunkRange(s * pieces + destination.start, count: destination.count),
                                          reduce: reduce))
                }
            }
            steps.append(step)
        }
        if !gather.isEmpty { steps.append(gather) }
        return Schedule(collective: collective, algorithm: algorithm, ranks: ranks,
                        layout: ChunkLayout(blocks: 1, chunksPerBlock: shards * pieces), steps: steps)
    }

    /// The allreduce among one rank per node (see the type's comment): with `halving`,
    /// Rabenseifner's for a power-of-two node count of at least 4; else the ring; on one
    /// node, no steps.
    static func acrossNodes(_ count: Int, halving: Bool) -> Schedule {
        return halving && halves(count) ? Rabenseifner.make(.allreduce, ranks: count, root: 0, segments: 1)
            : Ring.make(.allreduce, ranks: count, root: 0, segments: 1)
    }

    /// Whether some node's ranks are not consecutive (e.g. placed round-robin, `--map-by node`).
    /// Then a flat algorithm's first, largest exchange crosses nodes, and two-level sends half
    /// the bytes across that recursive halving does.
    public static func isInterleaved(_ nodes: [[Int]]) -> Bool {
        nodes.contains { node in node.count > 1 && node.last! - node.first! + 1 != node.count }
    }

    /// Interleaved nodes of equal size (`--map-by node`, Slurm's cyclic distribution): the
    /// layouts `auto`'s round-robin rule was measured on.
    public static func isRoundRobin(_ nodes: [[Int]]) -> Bool {
        areEqual(nodes) && isInterleaved(nodes)
    }

    /// Equal nodes of at least two ranks each, every node's ranks consecutive (`--map-by
    /// slot`, mpirun's default; Slurm's block distribution): the layouts `auto`'s consecutive
    /// rules were measured on.
    public static func isConsecutive(_ nodes: [[Int]]) -> Bool {
        areEqual(nodes) && nodes[0].count > 1 && !isInterleaved(nodes)
    }

    /// Two nodes of different rank counts (so one holds several ranks): `auto`'s uneven rules,
    /// measured on 2+1 and 3+1 and taken to hold for larger pairs as the equal-node rules,
    /// measured on 2+2, are. Not more nodes: on three hosts (2+1+1) two-level allreduce
    /// measured 0.85–0.89× native at 512 KiB and 0.90–1.00× at 1 MiB.
    public static func isUneven(_ nodes: [[Int]]) -> Bool {
        nodes.count == 2 && !areEqual(nodes)
    }

    /// Which of `auto`'s two-level rules a node layout falls under.
    public static func placement(_ nodes: [[Int]]) -> NodePlacement {
        if isRoundRobin(nodes) { return .roundRobin }
        if isConsecutive(nodes) { return .consecutive }
        if isUneven(nodes) { return .uneven }
        return .other
    }

    /// Several nodes, all of one rank count.
    private static func areEqual(_ nodes: [[Int]]) -> Bool {
        nodes.count > 1 && Set(nodes.map(\.count)).count == 1
    }

    /// Nodes from each rank's node key (e.g. the lowest rank sharing its node), in order of
    /// first appearance; ranks within a node in rank order.
    public static func nodes(fromKeys keys: [Int]) -> [[Int]] {
        var order: [Int] = []
        var members: [Int: [Int]] = [:]
        for (rank, key) in keys.enumerated() {
            if members[key] == nil { order.append(key) }
            members[key, default: []].append(rank)
        }
        return order.map { members[$0]! }
    }
}

/// How ranks sit on nodes, as far as `auto`'s two-level rules tell layouts apart
/// (`TwoLevel.placement`).
public enum NodePlacement: Sendable, CaseIterable {
    /// Equal nodes, ranks dealt round-robin (`--map-by node`, Slurm's cyclic distribution).
    case roundRobin
    /// Equal nodes of at least two consecutive ranks each (`--map-by slot`, Slurm's block).
    case consecutive
    /// Two nodes of different rank counts (e.g. 3 ranks on 2 hosts).
    case uneven
    /// One node, one rank per node, uneven nodes beyond two, equal nodes interleaved otherwise.
    case other

    /// The placement whose rules apply given whether node-mates read each other's buffers
    /// (pulls): every rule but the round-robin ones was measured with pulls, so without them
    /// only round-robin keeps its rules (they gain from fewer bytes across, not from pulls);
    /// the others fall to `.other`'s, which hold without pulls (reduce-scatter's).
    public func ruling(pulls: Bool) -> NodePlacement {
        pulls || self == .roundRobin ? self : .other
    }
}
