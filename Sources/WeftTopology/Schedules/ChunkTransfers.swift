/// One step's transfers, added a chunk at a time and emitted as few operations as possible:
/// the chunks each (sender, receiver, reduce) pair moves are merged into contiguous ranges.
/// Generators that cut blocks into shards think per chunk; the executor pays per message.
///
/// Pairs come out in the order they were first added (never a dictionary's order, which
/// differs between processes: every rank must see the same operations in the same order).
struct ChunkTransfers {
    private struct Pair: Hashable {
        var from: Int
        var to: Int
        var reduce: Bool
    }

    private var order: [Pair] = []
    private var chunks: [Pair: [Int]] = [:]

    var isEmpty: Bool { order.isEmpty }

    /// `from` sends `count` chunks from `start` to the same place at `to`.
    mutating func add(from: Int, to: Int, chunk start: Int, count: Int = 1, reduce: Bool) {
        precondition(from != to, "a rank does not send to itself")
        let pair = Pair(from: from, to: to, reduce: reduce)
        if chunks[pair] == nil { order.append(pair) }
        chunks[pair, default: []].append(contentsOf: start..<(start + count))
    }

    /// The operations: per pair in first-added order, one transfer per run of chunks.
    var operations: [ScheduleOperation] {
        var out: [ScheduleOperation] = []
        for pair in order {
            let sorted = Array(Set(chunks[pair]!)).sorted()
            var i = 0
            while i < sorted.count {
                var j = i + 1
                while j < sorted.count && sorted[j] == sorted[j - 1] + 1 { j += 1 }
                let range = ChunkRange(sorted[i], count: j - i)
                out.append(.transfer(from: pair.from, to: pair.to, source: range, destination: range,
                                     reduce: pair.reduce))
                i = j
            }
        }
        return out
    }
}
