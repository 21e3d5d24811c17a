/// Binomial trees: ⌈log₂ n⌉ rounds, the latency-optimal shape for small messages.
///
/// Broadcast and reduce are pipelined over `segments` (large messages stream down/up the
/// tree instead of waiting a full round per level). Allreduce is reduce then broadcast;
/// reduce-scatter is reduce then a binomial scatter; allgather is a binomial gather then
/// broadcast; barrier is a zero-byte gather then broadcast. Ranks are renumbered relative
/// to the root (virtual rank v = r − root mod n).
public enum BinomialTree: FlatScheduleGenerator {
    public static let algorithm = Algorithm.tree
    public static let collectives: [Collective] = [.allreduce, .reduceScatter, .allgather, .broadcast, .reduce, .barrier]
    public static func pipelines(_ collective: Collective) -> Bool { collective != .barrier }

    /// Children of virtual rank `v`, largest subtree first, each with its subtree size.
    static func children(of v: Int, ranks n: Int) -> [(child: Int, span: Int)] {
        var mask = 1
        if v == 0 {
            while mask < n { mask <<= 1 }
        } else {
            mask = v & -v
        }
        var result: [(Int, Int)] = []
        mask >>= 1
        while mask > 0 {
            if v + mask < n { result.append((v + mask, min(mask, n - v - mask))) }
            mask >>= 1
        }
        return result
    }

    /// Parent-to-child edges in breadth-first order (parents before children).
    static func edgesDown(ranks n: Int) -> [(parent: Int, child: Int, span: Int)] {
        var edges: [(Int, Int, Int)] = []
        var frontier = [0]
        while !frontier.isEmpty {
            var next: [Int] = []
            for v in frontier {
                for (c, span) in children(of: v, ranks: n) {
                    edges.append((v, c, span))
                    next.append(c)
                }
            }
            frontier = next
        }
        return edges
    }

    public static func make(_ collective: Collective, ranks n: Int, root: Int, segments: Int) -> Schedule {
        let down = edgesDown(ranks: n)
        let up = Array(down.reversed())
        let real = { (v: Int) in (v + root) % n }
        var packer = StepPacker()
        let layout: ChunkLayout
        switch collective {
        case .broadcast, .reduce, .allreduce, .barrier:
            let chunks = collective == .barrier ? 1 : segments
            layout = ChunkLayout(blocks: 1, chunksPerBlock: chunks)
            let pieces = collective == .barrier ? [ChunkRange(0, count: 0)]
                : segmentRanges(chunks: chunks, segments: chunks)
            if collective != .broadcast {
                for piece in pieces {
                    for (parent, child, _) in up {
                        packer.transfer(from: real(child), to: real(parent), source: piece, destination: piece,
                                        reduce: true)
                    }
                }
            }
            if collective != .reduce {
                for piece in pieces {
                    for (parent, child, _) in down {
                        packer.transfer(from: real(parent), to: real(child), source: piece, destination: piece,
                                        reduce: false)
                    }
                }
            }
        case .reduceScatter:
            // Root 0 (virtual ranks are real ranks): reduce everything, then each parent
            // hands a child the blocks of the child's subtree.
            layout = ChunkLayout(blocks: n, chunksPerBlock: segments)
            for piece in segmentRanges(chunks: layout.chunks, segments: segments) {
                for (parent, child, _) in up {
                    packer.transfer(from: child, to: parent, source: piece, destination: piece, reduce: true)
                }
            }
            for (parent, child, span) in down {
                let range = ChunkRange(child * segments, count: span * segments)
                packer.transfer(from: parent, to: child, source: range, destination: range, reduce: false)
            }
        case .allgather:
            // Each child sends its subtree's blocks up to its parent, then the root
            // broadcasts the whole buffer, pipelined.
            layout = ChunkLayout(blocks: n, chunksPerBlock: 1)
            for (parent, child, span) in up {
                let range = ChunkRange(child, count: span)
                packer.transfer(from: child, to: parent, source: range, destination: range, reduce: false)
            }
            for piece in segmentRanges(chunks: n, segments: segments) {
                for (parent, child, _) in down {
                    packer.transfer(from: parent, to: child, source: piece, destination: piece, reduce: false)
                }
            }
        case .alltoall:
            preconditionFailure("tree does not serve alltoall")
        }
        return Schedule(collective: collective, algorithm: algorithm, ranks: n,
                        root: collective.isRooted ? root : 0, layout: layout, steps: packer.steps)
    }
}
