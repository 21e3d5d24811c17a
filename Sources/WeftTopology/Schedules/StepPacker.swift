/// Places transfers, given in dependency order, at the earliest step where their source
/// is complete, their destination is free, and the directed link (from, to) carries
/// nothing else. Tree algorithms are written as plain edge lists and get pipelining from
/// this: segment k+1 follows segment k down a link one step later.
struct StepPacker {
    private struct Location: Hashable {
        var rank: Int
        var buffer: BufferID
        var chunk: Int
    }

    private struct Link: Hashable {
        var from: Int
        var to: Int
    }

    /// Step from which a location holds its final value for readers.
    private var ready: [Location: Int] = [:]
    /// Last step that read a location (a later copy into it must come after).
    private var lastRead: [Location: Int] = [:]
    /// Last step that copied into a location (a reduce into it must come after).
    private var lastCopy: [Location: Int] = [:]
    private var busy: [Link: Set<Int>] = [:]
    private(set) var steps: [[ScheduleOperation]] = []

    /// The locations a range covers; an empty range (a zero-byte message, as in a barrier)
    /// is a token at chunk −1, so its transfers still order themselves.
    private func locations(_ rank: Int, _ range: ChunkRange) -> [Location] {
        if range.count == 0 { return [Location(rank: rank, buffer: range.buffer, chunk: -1)] }
        return range.chunks.map { Location(rank: rank, buffer: range.buffer, chunk: $0) }
    }

    mutating func transfer(from: Int, to: Int, source: ChunkRange, destination: ChunkRange, reduce: Bool) {
        let sources = locations(from, source), destinations = locations(to, destination)
        var step = sources.map { ready[$0] ?? 0 }.max() ?? 0
        for location in destinations {
            step = max(step, ready[location] ?? 0)
            if reduce {
                step = max(step, (lastCopy[location] ?? -1) + 1)
            } else {
                step = max(step, (lastRead[location] ?? -1) + 1)
            }
        }
        let link = Link(from: from, to: to)
        while busy[link]?.contains(step) == true { step += 1 }
        busy[link, default: []].insert(step)
        for location in sources { lastRead[location] = max(lastRead[location] ?? -1, step) }
        for location in destinations {
            ready[location] = max(ready[location] ?? 0, step + 1)
            if !reduce { lastCopy[location] = step }
        }
        while steps.count <= step { steps.append([]) }
        steps[step].append(.transfer(from: from, to: to, source: source, destination: destination, reduce: reduce))
    }
}

/// Splits `chunks` chunks into `segments` balanced contiguous ranges (none empty).
func segmentRanges(chunks: Int, segments: Int, buffer: BufferID = .data) -> [ChunkRange] {
    let n = max(1, min(segments, chunks))
    return (0..<n).map { k in
        let start = chunks * k / n, end = chunks * (k + 1) / n
        return ChunkRange(buffer, start, count: end - start)
    }
}

/// Rank-count helpers for algorithms built on a power-of-two core (recursive doubling,
/// Rabenseifner): the first 2·extra ranks pair up, odd folding into even.
struct PowerOfTwoFold {
    let ranks: Int
    let core: Int
    var extra: Int { ranks - core }

    init(ranks: Int) {
        self.ranks = ranks
        var core = 1
        while core * 2 <= ranks { core *= 2 }
        self.core = core
    }

    /// Virtual rank in the core, or nil for a folded-away odd rank.
    func virtual(_ rank: Int) -> Int? {
        if rank < 2 * extra { return rank % 2 == 0 ? rank / 2 : nil }
        return rank - extra
    }

    func real(_ virtual: Int) -> Int { virtual < extra ? 2 * virtual : virtual + extra }
}
