/// Two complementary binary trees, as in NCCL: each carries half of the message, reduced
/// up and broadcast down, pipelined over segments. A rank that is interior in one tree
/// is (nearly always) a leaf in the other, so every rank sends and receives about one
/// message's worth in each direction — full bandwidth at logarithmic latency.
///
/// Tree A is the balanced in-order binary tree over ranks 0…n−1; tree B is its mirror
/// (r ↦ n−1−r) for even n and its shift (r ↦ r+1 mod n) for odd n.
public enum DoubleTree: FlatScheduleGenerator {
    public static let algorithm = Algorithm.doubleTree
    public static let collectives: [Collective] = [.allreduce]
    public static func pipelines(_ collective: Collective) -> Bool { true }

    /// (parent, child) edges of the in-order tree over [low, high), parents first.
    static func inOrderEdges(_ low: Int, _ high: Int, parent: Int?, into edges: inout [(Int, Int)]) {
        guard low < high else { return }
        let middle = (low + high) / 2
        if let parent { edges.append((parent, middle)) }
        inOrderEdges(low, middle, parent: middle, into: &edges)
        inOrderEdges(middle + 1, high, parent: middle, into: &edges)
    }

    /// Edges of both trees in breadth-first order (parents before children).
    static func trees(ranks n: Int) -> [[(parent: Int, child: Int)]] {
        var a: [(Int, Int)] = []
        inOrderEdges(0, n, parent: nil, into: &a)
        let map: (Int) -> Int = n % 2 == 0 ? { n - 1 - $0 } : { ($0 + 1) % n }
        let b = a.map { (map($0.0), map($0.1)) }
        return [byDepth(a, ranks: n), byDepth(b, ranks: n)]
    }

    private static func byDepth(_ edges: [(Int, Int)], ranks n: Int) -> [(parent: Int, child: Int)] {
        var parentOf = [Int?](repeating: nil, count: n)
        for (p, c) in edges { parentOf[c] = p }
        func depth(_ r: Int) -> Int { parentOf[r].map { depth($0) + 1 } ?? 0 }
        return edges.sorted { depth($0.1) < depth($1.1) }.map { (parent: $0.0, child: $0.1) }
    }

    public static func make(_ collective: Collective, ranks n: Int, root: Int, segments: Int) -> Schedule {
        precondition(collective == .allreduce, "double-tree serves allreduce only")
        let trees = trees(ranks: n)
        var packer = StepPacker()
        // Chunks [0, segments) travel on tree A, [segments, 2·segments) on tree B; the two
        // trees' segments interleave so both stay busy.
        let halves = (0..<2).map { half in (0..<segments).map { ChunkRange(half * segments + $0, count: 1) } }
        for segment in 0..<segments {
            for tree in 0..<2 {
                let piece = halves[tree][segment]
                for (parent, child) in trees[tree].reversed() {
                    packer.transfer(from: child, to: parent, source: piece, destination: piece, reduce: true)
                }
            }
        }
        for segment in 0..<segments {
            for tree in 0..<2 {
                let piece = halves[tree][segment]
                for (parent, child) in trees[tree] {
                    packer.transfer(from: parent, to: child, source: piece, destination: piece, reduce: false)
                }
            }
        }
        return Schedule(collective: collective, algorithm: algorithm, ranks: n,
                        layout: ChunkLayout(blocks: 1, chunksPerBlock: 2 * segments), steps: packer.steps)
    }
}
