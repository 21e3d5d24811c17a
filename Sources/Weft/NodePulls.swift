import WeftTopology

/// Which transfers of a schedule run as pulls: the receiver reads the sender's own buffer
/// through cross-memory attach (one copy, reduced from cache; see CWeft's pull.c) instead
/// of a message through MPI. Only between ranks of one node, and only in a step where
/// neither rank writes a chunk it is read from — a pull happens during the step, so it must
/// see the buffer as it was when the step began, as a message would — and where neither
/// rank also talks across nodes: there a pull's copy held up the rank's TCP transfer (a
/// ring's hops inside a node were 5–20 % slower as pulls in two of three A/B runs, while
/// two-level's steps inside nodes, which cross nothing, were 3–13 % faster).
package struct NodePulls {
    /// `nodeOf[r]`: rank r's node.
    package let nodeOf: [Int]

    package init(nodeOf: [Int]) { self.nodeOf = nodeOf }

    /// Indices (into `step`) of the transfers that become pulls. Every rank derives the
    /// same answer from the same step, so both ends of a transfer agree.
    package func pulls(in step: [ScheduleOperation]) -> Set<Int> {
        let local = step.indices.filter {
            if case .transfer(let from, let to, _, _, _) = step[$0] { return nodeOf[from] == nodeOf[to] }
            return false
        }
        guard !local.isEmpty else { return [] }
        var reads: [Int: [ChunkRange]] = [:], writes: [Int: [ChunkRange]] = [:]
        var sharing = Set<Int>(), crossing = Set<Int>()
        for operation in step {
            switch operation {
            case .transfer(let from, let to, let source, let destination, _):
                reads[from, default: []].append(source)
                writes[to, default: []].append(destination)
                if nodeOf[from] != nodeOf[to] { crossing.formUnion([from, to]) }
            case .localCopy(let rank, let source, let destination):
                reads[rank, default: []].append(source)
                writes[rank, default: []].append(destination)
            case .shared(let rank, _, _, _, _, _):
                sharing.insert(rank)
            }
        }
        func clean(_ rank: Int) -> Bool {
            guard !sharing.contains(rank) && !crossing.contains(rank) else { return false }
            let written = writes[rank] ?? []
            return (reads[rank] ?? []).allSatisfy { read in !written.contains { Self.overlap(read, $0) } }
        }
        return Set(local.filter {
            guard case .transfer(let from, let to, _, _, _) = step[$0] else { return false }
            return clean(from) && clean(to)
        })
    }

    static func overlap(_ a: ChunkRange, _ b: ChunkRange) -> Bool {
        a.buffer == b.buffer && a.count > 0 && b.count > 0 && a.start < b.start + b.count && b.start < a.start + a.count
    }
}
