/// Proves a schedule symbolically: replays it on sets of contributions instead of numbers
/// and checks that every rank ends with exactly what the collective promises, that every
/// contribution is reduced exactly once, and that no step races (a location written by
/// one operation while another reads or writes it).
///
/// A value is the set of (origin rank, origin chunk) contributions it holds; nil is
/// undefined memory. Reducing two overlapping sets is double counting and is reported.
public struct ScheduleChecker {
    public struct Failure: Error, CustomStringConvertible, Equatable {
        public let message: String
        public var description: String { message }
    }

    /// The contributions a value holds: one origin chunk, reduced over a set of ranks.
    private struct Contributions: Equatable {
        var chunk: Int
        var ranks: [UInt64]

        init(chunk: Int, ranks: [Int], of total: Int) {
            self.chunk = chunk
            self.ranks = [UInt64](repeating: 0, count: (total + 63) / 64)
            for r in ranks { self.ranks[r / 64] |= 1 << UInt64(r % 64) }
        }

        func overlaps(_ other: Contributions) -> Bool { zip(ranks, other.ranks).contains { $0 & $1 != 0 } }
        mutating func add(_ other: Contributions) { for k in ranks.indices { ranks[k] |= other.ranks[k] } }
        var members: [Int] { (0..<(ranks.count * 64)).filter { ranks[$0 / 64] & (1 << UInt64($0 % 64)) != 0 } }
    }

    private typealias Value = Contributions?

    private struct Location: Hashable {
        var rank: Int
        var buffer: BufferID
        var chunk: Int
    }

    private enum Access { case read, copyWrite, reduceWrite }

    /// What the operations of one step do to one location.
    private struct AccessSummary {
        let firstOp: Int
        var otherOp = -1
        var copyWrite = false
        var reduceWrite = false
        var nonTransferRead = false

        init(op: Int) { firstOp = op }

        mutating func add(_ op: Int, _ access: Access, viaTransfer: Bool) {
            if op != firstOp && otherOp < 0 { otherOp = op }
            switch access {
            case .copyWrite: copyWrite = true
            case .reduceWrite: reduceWrite = true
            case .read: if !viaTransfer { nonTransferRead = true }
            }
        }

        var races: Bool {
            let several = otherOp >= 0
            if copyWrite { return several }
            if reduceWrite { return nonTransferRead && several }
            return false
        }
    }

    public static func check(_ schedule: Schedule) throws {
        var checker = ScheduleChecker(schedule)
        try checker.run()
    }

    private let schedule: Schedule
    private let chunks: Int
    private var state: [[[Value]]]  // [rank][buffer][chunk]
    private var knowledge: [Set<Int>]

    private init(_ schedule: Schedule) {
        self.schedule = schedule
        chunks = schedule.layout.chunks
        let n = schedule.ranks
        knowledge = (0..<n).map { [$0] }
        state = (0..<n).map { r in
            let mine: (Int) -> Value = { c in Contributions(chunk: c, ranks: [r], of: n) }
            let cpb = schedule.layout.chunksPerBlock
            var data: [Value]
            switch schedule.collective {
            case .allreduce, .reduceScatter, .reduce, .alltoall, .barrier:
                data = (0..<schedule.layout.chunks).map(mine)
            case .allgather:
                data = (0..<schedule.layout.chunks).map { c in c / cpb == r ? mine(c) : nil }
            case .broadcast:
                data = (0..<schedule.layout.chunks).map { c in r == schedule.root ? mine(c) : nil }
            }
            let output = [Value](repeating: nil, count: schedule.layout.chunks)
            return [data, output]
        }
    }

    private func fail(_ message: String) -> Failure {
        Failure(message: "\(schedule.algorithm.rawValue) \(schedule.collective.rawValue) on \(schedule.ranks) ranks: \(message)")
    }

    private func validate(_ rank: Int?, _ range: ChunkRange, step: Int) throws {
        if let rank, rank < 0 || rank >= schedule.ranks { throw fail("step \(step): rank \(rank) out of range") }
        if range.start < 0 || range.count < 0 || range.start + range.count > chunks {
            throw fail("step \(step): chunks \(range) outside the layout's \(chunks) chunks")
        }
    }

    private func validatePair(_ source: ChunkRange, _ destination: ChunkRange, step: Int) throws {
        let cpb = schedule.layout.chunksPerBlock
        if source.count != destination.count || source.start % cpb != destination.start % cpb {
            throw fail("step \(step): source \(source) and destination \(destination) differ in size")
        }
    }

    private func value(_ rank: Int, _ range: ChunkRange) -> [Value] {
        range.chunks.map { state[rank][Int(range.buffer.rawValue)][$0] }
    }

    private func union(_ a: Value, _ b: Value, at: String) throws -> Value {
        guard var a, let b else { throw fail("\(at) reduces undefined data") }
        if a.chunk != b.chunk { throw fail("\(at) reduces chunk \(a.chunk) with chunk \(b.chunk)") }
        if a.overlaps(b) { throw fail("\(at) counts a contribution twice") }
        a.add(b)
        return a
    }

    private mutating func run() throws {
        for index in 0..<schedule.stepCount {
            try runStep(index, schedule.step(index))
        }
        try verifyFinalState()
    }

    private mutating func runStep(_ index: Int, _ step: [ScheduleOperation]) throws {
        // 1. Accesses, for the race check. Reductions apply after the step's transfers, so
        // sends of the old value and other reduce-receives may share a location with a
        // reduce-receive; a copy (or shared store) must be the only operation touching it.
        var accesses: [Location: AccessSummary] = [:]
        func note(_ rank: Int, _ range: ChunkRange, _ op: Int, _ access: Access, viaTransfer: Bool) {
            for c in range.chunks {
                accesses[Location(rank: rank, buffer: range.buffer, chunk: c), default: AccessSummary(op: op)]
                    .add(op, access, viaTransfer: viaTransfer)
            }
        }
        let everyRank = Array(0..<schedule.ranks)
        for (i, op) in step.enumerated() {
            switch op {
            case .transfer(let from, let to, let source, let destination, let reduce):
                try validate(from, source, step: index)
                try validate(to, destination, step: index)
                try validatePair(source, destination, step: index)
                if from == to { throw fail("step \(index): rank \(from) sends to itself") }
                note(from, source, i, .read, viaTransfer: true)
                note(to, destination, i, reduce ? .reduceWrite : .copyWrite, viaTransfer: true)
            case .localCopy(let rank, let source, let destination):
                try validate(rank, source, step: index)
                try validate(rank, destination, step: index)
                try validatePair(source, destination, step: index)
                note(rank, source, i, .read, viaTransfer: false)
                note(rank, destination, i, .copyWrite, viaTransfer: false)
            case .shared(let rank, let from, let source, let to, let destination, _):
                try validate(rank, source, step: index)
                try validate(from, source, step: index)
                try validate(to, destination, step: index)
                try validatePair(source, destination, step: index)
                for r in from.map({ [$0] }) ?? everyRank { note(r, source, i, .read, viaTransfer: false) }
                for r in to.map({ [$0] }) ?? everyRank { note(r, destination, i, .copyWrite, viaTransfer: false) }
            }
        }
        for (location, summary) in accesses where summary.races {
            throw fail("step \(index): race on rank \(location.rank) chunk \(location.chunk) between operations "
                + "\(summary.firstOp) and \(summary.otherOp)")
        }
        // 2. Effects, computed from the state at the start of the step.
        var writes: [(Location, Value, reduce: Bool)] = []
        var heard = knowledge
        for op in step {
            switch op {
            case .transfer(let from, let to, let source, let destination, let reduce):
                for (k, v) in value(from, source).enumerated() {
                    writes.append((Location(rank: to, buffer: destination.buffer, chunk: destination.start + k), v, reduce))
                }
                heard[to].formUnion(knowledge[from])
            case .localCopy(let rank, let source, let destination):
                for (k, v) in value(rank, source).enumerated() {
                    writes.append((Location(rank: rank, buffer: destination.buffer, chunk: destination.start + k), v, false))
                }
            case .shared(_, let from, let source, let to, let destination, let reduce):
                let sources = from.map { [$0] } ?? everyRank
                for k in 0..<source.count {
                    var result: Value = state[sources[0]][Int(source.buffer.rawValue)][source.start + k]
                    if reduce {
                        for r in sources.dropFirst() {
                            result = try union(result, state[r][Int(source.buffer.rawValue)][source.start + k],
                                               at: "step \(index): shared reduce of chunk \(source.start + k)")
                        }
                    }
                    for t in to.map({ [$0] }) ?? everyRank {
                        writes.append((Location(rank: t, buffer: destination.buffer, chunk: destination.start + k),
                                       result, false))
                    }
                }
            }
        }
        if step.contains(where: { if case .shared = $0 { return true } else { return false } }) {
            // Barriers fence a shared step, so every rank must take part in it.
            let present = Set(step.flatMap(\.participants))
            if let absent = everyRank.first(where: { !present.contains($0) }) {
                throw fail("step \(index): rank \(absent) has no operation in a shared-memory step and "
                    + "would skip its barriers")
            }
            // Shared steps are fenced by barriers: afterwards everyone has heard from everyone.
            let all = Set(everyRank)
            heard = heard.map { _ in all }
        }
        knowledge = heard
        for (location, v, reduce) in writes {
            let b = Int(location.buffer.rawValue)
            if reduce {
                state[location.rank][b][location.chunk] = try union(
                    state[location.rank][b][location.chunk], v,
                    at: "step \(index): rank \(location.rank) chunk \(location.chunk)")
            } else {
                state[location.rank][b][location.chunk] = v
            }
        }
    }

    private func expectation(rank r: Int, buffer: BufferID, chunk c: Int) -> Value? {
        let n = schedule.ranks, cpb = schedule.layout.chunksPerBlock
        let everyone = Contributions(chunk: c, ranks: Array(0..<n), of: n)
        switch (schedule.collective, buffer) {
        case (.allreduce, .data): return .some(everyone)
        case (.reduceScatter, .data): return c / cpb == r ? .some(everyone) : .none
        case (.reduce, .data): return r == schedule.root ? .some(everyone) : .none
        case (.allgather, .data): return .some(Contributions(chunk: c, ranks: [c / cpb], of: n))
        case (.broadcast, .data): return .some(Contributions(chunk: c, ranks: [schedule.root], of: n))
        case (.alltoall, .output):
            return .some(Contributions(chunk: r * cpb + c % cpb, ranks: [c / cpb], of: n))
        default: return .none
        }
    }

    private func verifyFinalState() throws {
        for r in 0..<schedule.ranks {
            if schedule.collective == .barrier && knowledge[r].count != schedule.ranks {
                let missing = Set(0..<schedule.ranks).subtracting(knowledge[r]).sorted()
                throw fail("rank \(r) leaves the barrier before hearing from ranks \(missing)")
            }
            for buffer in [BufferID.data, .output] {
                for c in 0..<chunks {
                    guard case .some(let expected) = expectation(rank: r, buffer: buffer, chunk: c) else { continue }
                    let got = state[r][Int(buffer.rawValue)][c]
                    if got != expected {
                        throw fail("rank \(r) ends with \(describe(got)) in chunk \(c), expected \(describe(expected))")
                    }
                }
            }
        }
    }

    private func describe(_ value: Value) -> String {
        guard let value else { return "undefined data" }
        let members = value.members
        let list = members.prefix(8).map(String.init).joined(separator: ",")
        return "chunk \(value.chunk) of ranks {\(list)\(members.count > 8 ? ",… (\(members.count))" : "")}"
    }
}
