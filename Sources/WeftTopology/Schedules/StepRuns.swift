/// A step number for every chunk index of one buffer, held as runs of chunks that share it.
///
/// `StepPacker` asks "the latest step over these chunks" and records "at least / exactly
/// this step over these chunks" for whole ranges. Transfers move ranges, so a buffer's
/// chunks take few distinct values; kept per chunk, a tree allgather on n ranks touched n²
/// entries (97 s at 4,096 ranks). Here a query or an update costs a binary search plus
/// the runs it covers, and updates join neighbouring runs that end up equal.
struct StepRuns {
    private struct Run {
        /// The run's first chunk; it lasts until the next run's.
        var start: Int
        var step: Int
    }

    /// Sorted by start; the first starts at `Int.min`, so every chunk (including the −1
    /// token of a zero-byte transfer) lies in some run.
    private var runs: [Run]

    /// Every chunk at `step`.
    init(_ step: Int) {
        runs = [Run(start: .min, step: step)]
    }

    /// The latest step over `chunks` (not empty).
    func latest(over chunks: Range<Int>) -> Int {
        var i = run(holding: chunks.lowerBound)
        var latest = runs[i].step
        i += 1
        while i < runs.count && runs[i].start < chunks.upperBound {
            latest = max(latest, runs[i].step)
            i += 1
        }
        return latest
    }

    /// Raises every chunk of `chunks` to at least `step`.
    mutating func raise(_ chunks: Range<Int>, to step: Int) {
        update(chunks) { max($0, step) }
    }

    /// Sets every chunk of `chunks` to `step`.
    mutating func set(_ chunks: Range<Int>, to step: Int) {
        update(chunks) { _ in step }
    }

    private mutating func update(_ chunks: Range<Int>, _ change: (Int) -> Int) {
        let first = split(at: chunks.lowerBound)
        let end = split(at: chunks.upperBound)
        for i in first..<end { runs[i].step = change(runs[i].step) }
        joinEqual(from: max(first - 1, 0), through: min(end, runs.count - 1))
    }

    /// The index of the run holding `chunk`: the last run starting at or before it.
    private func run(holding chunk: Int) -> Int {
        var low = 0, high = runs.count
        while high - low > 1 {
            let middle = (low + high) / 2
            if runs[middle].start <= chunk { low = middle } else { high = middle }
        }
        return low
    }

    /// Makes a run start at `chunk`, splitting the run holding it; returns that run's index.
    private mutating func split(at chunk: Int) -> Int {
        let i = run(holding: chunk)
        if runs[i].start == chunk { return i }
        runs.insert(Run(start: chunk, step: runs[i].step), at: i + 1)
        return i + 1
    }

    /// Joins neighbouring runs of equal step among runs `low...high`, so runs stay few.
    private mutating func joinEqual(from low: Int, through high: Int) {
        guard high > low else { return }
        var kept = low
        for i in (low + 1)...high where runs[i].step != runs[kept].step {
            kept += 1
            runs[kept] = runs[i]
        }
        if kept < high { runs.removeSubrange((kept + 1)...high) }
    }
}
