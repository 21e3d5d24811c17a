/// Multi-level allreduce over a grid of ranks: every rank has coordinates (c₀, …, c_L−1)
/// with sizes (d₀, …, d_L−1). Reduce-scatter runs level by level — among the ranks that
/// differ only in c_l, on the part of the buffer the earlier levels left them — then the
/// allgather unwinds the levels in reverse. Each level is a ring (neighbour traffic, as on
/// torus dimensions or inside a switch) or a rotated pairwise exchange (all partners in
/// turn, each participant starting at a different offset so that concurrent exchanges
/// spread over different links, as across dragonfly groups).
///
/// Cost: at level l each rank moves 2(d_l − 1)/d_l of its share, the share shrinking by
/// d_l per level, so only the last level's traffic crosses the expensive links.
public enum MultiLevel {
    public enum Mode: Sendable { case ring, pairwise }

    public struct Grid: Sendable {
        /// coordinates[rank] = (c₀, …, c_L−1); every combination occurs exactly once.
        public var coordinates: [[Int]]
        public var sizes: [Int]
        public var modes: [Mode]
        /// Per ring level, the positions in ring order (empty: 0, 1, …, d−1). A ring along a
        /// mesh line without wrap-around follows a cycle of its links (express links) or a
        /// folded order, so that no hop crosses the whole line.
        public var ringOrders: [[Int]]

        public init(coordinates: [[Int]], sizes: [Int], modes: [Mode], ringOrders: [[Int]] = []) {
            self.coordinates = coordinates
            self.sizes = sizes
            self.modes = modes
            self.ringOrders = ringOrders
        }
    }

    /// The allreduce over `grid`, its steps made on demand (16K ranks × 300 steps would
    /// not fit in memory as operations).
    /// `part` of `parts` confines it to that share of the chunks (the rest untouched), so
    /// `overlapped` can run two halves at once.
    public static func allreduce(_ grid: Grid, algorithm: Algorithm, part: Int = 0, parts: Int = 1) -> Schedule {
        let n = grid.coordinates.count, levels = grid.sizes.count
        let sizes = grid.sizes, modes = grid.modes, coordinates = grid.coordinates
        let chunks = sizes.reduce(1, *), base = part * chunks
        // Mixed-radix index of a coordinate vector → rank.
        var rankAt = [Int](repeating: 0, count: chunks)
        @Sendable func index(_ c: [Int]) -> Int { zip(c, sizes).reduce(0) { $0 * $1.1 + $1.0 } }
        for (r, c) in coordinates.enumerated() { rankAt[index(c)] = r }
        let ranksAt = rankAt
        /// The chunk range of sub-part k at level l for a rank (prefix from levels < l).
        @Sendable func range(_ c: [Int], level l: Int, part k: Int) -> ChunkRange {
            var prefix = 0, span = chunks
            for m in 0..<l {
                span /= sizes[m]
                prefix = prefix * sizes[m] + c[m]
            }
            span /= sizes[l]
            return ChunkRange(base + (prefix * sizes[l] + k) * span, count: span)
        }
        @Sendable func peer(_ c: [Int], level l: Int, position p: Int) -> Int {
            var t = c
            t[l] = p
            return ranksAt[index(t)]
        }
        // Phases: reduce-scatter up the levels, allgather back down; d_l − 1 steps each.
        var phases: [(level: Int, reduce: Bool)] = []
        for l in 0..<levels where sizes[l] > 1 { phases.append((l, true)) }
        for l in stride(from: levels - 1, through: 0, by: -1) where sizes[l] > 1 { phases.append((l, false)) }
        var starts: [Int] = []
        var total = 0
        for p in phases {
            starts.append(total)
            total += sizes[p.level] - 1
        }
        let phaseList = phases, phaseStarts = starts
        // Ring order per level and its inverse (position → index in the order).
        let orders = (0..<levels).map { l in
            l < grid.ringOrders.count && grid.ringOrders[l].count == sizes[l] ? grid.ringOrders[l] : Array(0..<sizes[l])
        }
        let indexInOrder = orders.map { order -> [Int] in
            var inverse = order
            for (k, position) in order.enumerated() { inverse[position] = k }
            return inverse
        }
        return Schedule(collective: .allreduce, algorithm: algorithm, ranks: n,
                        layout: ChunkLayout(blocks: 1, chunksPerBlock: chunks * parts), stepCount: total) { stepIndex in
            let p = phaseStarts.lastIndex { $0 <= stepIndex }!
            let (l, reduce) = phaseList[p]
            let s = stepIndex - phaseStarts[p], d = sizes[l]
            return coordinates.enumerated().map { r, c -> ScheduleOperation in
                let i = c[l]
                switch modes[l] {
                case .ring:
                    // Above level 0, rings of ranks whose other coordinates have odd sum run
                    // the other way round, so the many rings sharing a switch's links use
                    // both directions of each.
                    var other = 0
                    for m in 0..<levels where m != l { other += c[m] }
                    let backwards = l > 0 && other % 2 == 1
                    @Sendable func position(_ v: Int) -> Int {
                        let k = ((v % d) + d) % d
                        return orders[l][backwards ? (d - k) % d : k]
                    }
                    let k = indexInOrder[l][i], v = backwards ? (d - k) % d : k
                    let part = position(reduce ? v - s - 1 : v - s)
                    let x = range(c, level: l, part: part)
                    return .transfer(from: r, to: peer(c, level: l, position: position(v + 1)), source: x,
                                     destination: x, reduce: reduce)
                case .pairwise:
                    // Participants with different lower coordinates start at different offsets.
                    var q = 0
                    for m in 0..<levels where m != l { q = q * sizes[m] + c[m] }
                    let target = (i + 1 + (s + q) % (d - 1)) % d
                    let x = range(c, level: l, part: reduce ? target : i)
                    return .transfer(from: r, to: peer(c, level: l, position: target), source: x, destination: x,
                                     reduce: reduce)
                }
            }
        }
    }
}

extension MultiLevel {
    /// The allreduce over `grid` as two halves in a software pipeline: while one half
    /// crosses the upper levels (network links), the other runs the level-0 ring (the
    /// endpoint links), so the upper levels' time hides behind the endpoint-bound one:
    ///
    ///     A: RS₀ | upper levels | AG₀
    ///     B:       RS₀          | upper levels | AG₀
    ///
    /// Worth it where level 0 is wide and the links out of a switch are few (16 endpoints
    /// per express-mesh router share ≤ 6 network links); with one rank per switch there is
    /// no level 0 to hide behind and it is the plain allreduce. So is it below 8 ranks per
    /// switch (4 on a dragonfly router): level 0 is then too short to hide the upper levels
    /// behind and the extra steps cost more than they save (6.66 against 6.41 ms on
    /// dragonfly-1k at 64 MiB).
    public static func overlapped(_ grid: Grid, algorithm: Algorithm) -> Schedule {
        let first = grid.sizes[0] - 1
        guard first >= 7, grid.sizes.dropFirst().contains(where: { $0 > 1 }) else {
            return allreduce(grid, algorithm: algorithm)
        }
        let a = allreduce(grid, algorithm: algorithm, part: 0, parts: 2)
        let b = allreduce(grid, algorithm: algorithm, part: 1, parts: 2)
        let upper = a.stepCount - 2 * first
        /// Slots of `long` steps (in order) with `short`'s steps laid beside the heaviest
        /// of them (the most chunks per transfer: the lowest upper level), since a merged
        /// step lasts as long as its slower half.
        func beside(_ long: (Schedule, Int, Int), _ short: (Schedule, Int, Int)) -> [[(Schedule, Int)]] {
            var slots = (0..<long.2).map { [(long.0, long.1 + $0)] }
            let weight = (0..<long.2).map { k -> Int in
                if case .transfer(_, _, let source, _, _) = long.0.step(long.1 + k).first { return source.count }
                return 0
            }
            let chosen = (0..<long.2).sorted { weight[$0] != weight[$1] ? weight[$0] > weight[$1] : $0 < $1 }
                .prefix(short.2).sorted()
            for (k, slot) in chosen.enumerated() { slots[slot].append((short.0, short.1 + k)) }
            for k in chosen.count..<short.2 { slots.append([(short.0, short.1 + k)]) }
            return slots
        }
        let slots: [[(Schedule, Int)]] = (0..<first).map { [(a, $0)] }
            + beside((a, first, upper), (b, 0, first))
            + beside((b, first, upper), (a, first + upper, first))
            + (0..<first).map { [(b, first + upper + $0)] }
        return Schedule(collective: .allreduce, algorithm: algorithm, ranks: a.ranks, layout: a.layout,
                        stepCount: slots.count) { index in
            slots[index].flatMap { schedule, step in schedule.step(step) }
        }
    }
}

extension Schedule {
    /// The same schedule with virtual rank v played by rank order[v] (a ring in network
    /// order is the plain ring relabelled). For block-wise collectives block v becomes
    /// block order[v], so every rank still owns its own block.
    public func relabelled(_ order: [Int]) -> Schedule {
        let blockwise = collective.isBlockwise
        let cpb = layout.chunksPerBlock
        /// Block-wise ranges split at block boundaries, since blocks move independently.
        @Sendable func pieces(_ r: ChunkRange) -> [ChunkRange] {
            var out: [ChunkRange] = []
            var c = r.start
            while c < r.start + r.count {
                let block = c / cpb, end = min(r.start + r.count, (block + 1) * cpb)
                out.append(ChunkRange(r.buffer, order[block] * cpb + c % cpb, count: end - c))
                c = end
            }
            return out.isEmpty ? [r] : out
        }
        return mappingOperations { op, out in
            switch op {
            case .transfer(let from, let to, let source, let destination, let reduce):
                guard blockwise else {
                    out.append(.transfer(from: order[from], to: order[to], source: source, destination: destination,
                                         reduce: reduce))
                    return
                }
                for (s, d) in zip(pieces(source), pieces(destination)) {
                    out.append(.transfer(from: order[from], to: order[to], source: s, destination: d, reduce: reduce))
                }
            case .localCopy(let rank, let source, let destination):
                guard blockwise else {
                    out.append(.localCopy(rank: order[rank], source: source, destination: destination))
                    return
                }
                for (s, d) in zip(pieces(source), pieces(destination)) {
                    out.append(.localCopy(rank: order[rank], source: s, destination: d))
                }
            case .shared(let rank, let from, let source, let to, let destination, let reduce):
                let sources = blockwise ? pieces(source) : [source]
                let destinations = blockwise ? pieces(destination) : [destination]
                for (s, d) in zip(sources, destinations) {
                    out.append(.shared(rank: order[rank], from: from.map { order[$0] }, source: s,
                                       to: to.map { order[$0] }, destination: d, reduce: reduce))
                }
            }
        }
    }
}
