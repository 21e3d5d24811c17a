/// Which rank of each node owns each shard in two-level collectives: the message (or each
/// block of it) is cut into S shards, S the largest node's rank count, and on a node of k
/// ranks local rank i owns the contiguous run of shards s with ⌊s·k/S⌋ = i — so whatever
/// a rank sends its owner, or an owner sends across, is one range per block.
struct NodeShards {
    let nodes: [[Int]]
    let ranks: Int
    /// S: the largest node's rank count.
    let shards: Int
    /// nodeOf[rank] = the index of the rank's node.
    let nodeOf: [Int]

    /// `nodes` lists every rank 0..<ranks exactly once (checked by the caller).
    init(nodes: [[Int]]) {
        self.nodes = nodes
        ranks = nodes.reduce(0) { $0 + $1.count }
        shards = nodes.map(\.count).max() ?? 1
        var nodeOf = [Int](repeating: 0, count: ranks)
        for (n, node) in nodes.enumerated() {
            for r in node { nodeOf[r] = n }
        }
        self.nodeOf = nodeOf
    }

    var count: Int { nodes.count }

    /// The rank of node `n` that owns shard `s`.
    func owner(_ n: Int, _ s: Int) -> Int {
        let node = nodes[n]
        return node[s * node.count / shards]
    }

    /// The node `steps` places after node `n` around the ring of nodes.
    func node(_ n: Int, plus steps: Int) -> Int { ((n + steps) % count + count) % count }
}
