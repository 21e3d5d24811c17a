/// Places transfers, given in dependency order, at the earliest step where their source
/// is complete, their destination is free, and the directed link (from, to) carries
/// nothing else. Tree algorithms are written as plain edge lists and get pipelining from
/// this: segment k+1 follows segment k down a link one step later.
///
/// A transfer costs a few binary searches and hash lookups whatever its size, so packing
/// takes time about linear in the transfers (ranges are remembered as runs, `StepRuns`).
struct StepPacker {
    /// What the packer remembers of one buffer of one rank, per chunk.
    private struct BufferSteps {
        /// Step from which a chunk holds its final value for readers.
        var ready = StepRuns(0)
        /// Last step that read a chunk (a later copy into it must come after).
        var lastRead = StepRuns(-1)
        /// Last step that copied into a chunk (a reduce into it must come after).
        var lastCopy = StepRuns(-1)
    }

    private struct Link: Hashable {
        var from: Int
        var to: Int
    }

    /// The steps a directed link already carries a transfer in, as runs of consecutive
    /// steps, so the first free step is one binary search away: trying steps one by one
    /// cost a pipeline of s segments s² tries per link (at a leaf every segment is ready
    /// at step 0 and waits for the link).
    private struct LinkSteps {
        /// Run i is the steps starts[i]..<ends[i]; runs are sorted and never touch.
        private var starts: [Int] = []
        private var ends: [Int] = []

        /// How many runs start at or before `step`.
        private func runsStarting(atOrBefore step: Int) -> Int {
            var low = 0, high = starts.count
            while low < high {
                let middle = (low + high) / 2
                if starts[middle] <= step { low = middle + 1 } else { high = middle }
            }
            return low
        }

        func firstFree(atOrAfter step: Int) -> Int {
            let i = runsStarting(atOrBefore: step)
            return i > 0 && ends[i - 1] > step ? ends[i - 1] : step
        }

        /// Marks free `step` taken, joining the runs it touches.
        mutating func take(_ step: Int) {
            let i = runsStarting(atOrBefore: step)
            let joinsBefore = i > 0 && ends[i - 1] == step
            let joinsAfter = i < starts.count && starts[i] == step + 1
            switch (joinsBefore, joinsAfter) {
            case (true, true):
                ends[i - 1] = ends[i]
                starts.remove(at: i)
                ends.remove(at: i)
            case (true, false):
                ends[i - 1] = step + 1
            case (false, true):
                starts[i] = step
            case (false, false):
                starts.insert(step, at: i)
                ends.insert(step + 1, at: i)
            }
        }
    }

    /// buffers[rank · 2 + buffer], grown as ranks appear.
    private var buffers: [BufferSteps] = []
    private var links: [Link: LinkSteps] = [:]
    private(set) var steps: [[ScheduleOperation]] = []

    /// The chunks a range covers; an empty range (a zero-byte message, as in a barrier)
    /// is a token at chunk −1, so its transfers still order themselves.
    private static func chunks(_ range: ChunkRange) -> Range<Int> {
        range.count == 0 ? -1..<0 : range.chunks
    }

    /// The index of `rank`'s `buffer` in `buffers`, which it makes sure exists.
    private mutating func slot(_ rank: Int, _ buffer: BufferID) -> Int {
        let index = rank * 2 + Int(buffer.rawValue)
        while buffers.count <= index { buffers.append(BufferSteps()) }
        return index
    }

    mutating func transfer(from: Int, to: Int, source: ChunkRange, destination: ChunkRange, reduce: Bool) {
        let read = Self.chunks(source), written = Self.chunks(destination)
        let sender = slot(from, source.buffer), receiver = slot(to, destination.buffer)
        var step = buffers[sender].ready.latest(over: read)
        step = max(step, buffers[receiver].ready.latest(over: written))
        let lastConflict = reduce ? buffers[receiver].lastCopy : buffers[receiver].lastRead
        step = max(step, lastConflict.latest(over: written) + 1)
        let link = Link(from: from, to: to)
        step = links[link]?.firstFree(atOrAfter: step) ?? step
        links[link, default: LinkSteps()].take(step)
        buffers[sender].lastRead.raise(read, to: step)
        buffers[receiver].ready.raise(written, to: step + 1)
        if !reduce { buffers[receiver].lastCopy.set(written, to: step) }
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
