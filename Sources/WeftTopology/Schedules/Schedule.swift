/// One of the two buffers a schedule works on: the in-place data buffer, or the separate
/// output buffer that only alltoall uses.
public enum BufferID: Int32, Sendable, Hashable {
    case data = 0
    case output = 1
}

/// A contiguous range of chunks of one buffer.
public struct ChunkRange: Hashable, Sendable, CustomStringConvertible {
    public var buffer: BufferID
    public var start: Int
    public var count: Int

    public init(_ buffer: BufferID = .data, _ start: Int, count: Int) {
        self.buffer = buffer
        self.start = start
        self.count = count
    }

    /// A range of the data buffer.
    public init(_ start: Int, count: Int) {
        self.init(.data, start, count: count)
    }

    public var chunks: Range<Int> { start..<(start + count) }
    public var description: String { "\(buffer == .data ? "" : "out:")[\(start)..<\(start + count))" }
}

/// One operation of a schedule step.
///
/// Within a step, every send reads the buffer as it was when the step began; copies land
/// during the step, reductions after every transfer of the step completed. `shared`
/// operations load and store other ranks' buffers directly (shared-memory windows); a
/// step holding them is fenced by a barrier on both sides.
public enum ScheduleOperation: Hashable, Sendable {
    /// `from` sends `source` chunks; `to` receives them into `destination`, reducing or copying.
    case transfer(from: Int, to: Int, source: ChunkRange, destination: ChunkRange, reduce: Bool)
    /// `rank` copies its own chunks from `source` to `destination`.
    case localCopy(rank: Int, source: ChunkRange, destination: ChunkRange)
    /// `rank` reads `source` chunks of rank `from` (nil: of every rank, reduced) and stores
    /// the result at `destination` of rank `to` (nil: of every rank).
    case shared(rank: Int, from: Int?, source: ChunkRange, to: Int?, destination: ChunkRange, reduce: Bool)

    /// The ranks whose programs contain this operation.
    package var participants: [Int] {
        switch self {
        case .transfer(let from, let to, _, _, _): return [from, to]
        case .localCopy(let rank, _, _): return [rank]
        case .shared(let rank, _, _, _, _, _): return [rank]
        }
    }
}

/// How chunks map to elements: `blocks` equal blocks (one per rank for block-wise
/// collectives, else one), each split into `chunksPerBlock` balanced chunks. The element
/// count is bound only at execution time, so one schedule serves every message size.
public struct ChunkLayout: Hashable, Sendable {
    public var blocks: Int
    public var chunksPerBlock: Int
    public var chunks: Int { blocks * chunksPerBlock }

    public init(blocks: Int, chunksPerBlock: Int) {
        self.blocks = blocks
        self.chunksPerBlock = chunksPerBlock
    }

    /// First element of `chunk` when each block holds `blockCount` elements.
    /// `blockCount · sub / chunksPerBlock` is computed from blockCount's quotient and
    /// remainder by chunksPerBlock, so no intermediate exceeds the message's element count
    /// (the direct product overflowed for messages of 2^62 bytes).
    public func elementOffset(ofChunk chunk: Int, blockCount: Int) -> Int {
        let block = chunk / chunksPerBlock, sub = chunk % chunksPerBlock
        let whole = blockCount / chunksPerBlock, part = blockCount % chunksPerBlock
        return block * blockCount + whole * sub + part * sub / chunksPerBlock
    }
}

/// A collective algorithm as data: for every step, the operations of every rank.
/// Executed by CWeft, replayed by the simulator, proved by `ScheduleChecker`.
public struct Schedule: Sendable {
    public let collective: Collective
    public let algorithm: Algorithm
    public let ranks: Int
    public let root: Int
    public let layout: ChunkLayout
    /// Steps held in memory. Empty for a schedule produced on demand: read every schedule
    /// through `stepCount` and `step(_:)`.
    public var steps: [[ScheduleOperation]]
    /// A generator of step i, for schedules too large to hold (a ring on 16K ranks has
    /// 33K steps of 16K operations: 40 GB in memory, a few bytes as a rule).
    private var onDemand: OnDemand?

    struct OnDemand: Sendable {
        var count: Int
        var make: @Sendable (Int) -> [ScheduleOperation]
    }

    public init(collective: Collective, algorithm: Algorithm, ranks: Int, root: Int = 0, layout: ChunkLayout,
                steps: [[ScheduleOperation]] = []) {
        self.collective = collective
        self.algorithm = algorithm
        self.ranks = ranks
        self.root = root
        self.layout = layout
        self.steps = steps
    }

    /// A schedule whose step i is made by `step(i)` when asked for.
    public init(collective: Collective, algorithm: Algorithm, ranks: Int, root: Int = 0, layout: ChunkLayout,
                stepCount: Int, step: @escaping @Sendable (Int) -> [ScheduleOperation]) {
        self.init(collective: collective, algorithm: algorithm, ranks: ranks, root: root, layout: layout)
        onDemand = OnDemand(count: stepCount, make: step)
    }

    public var stepCount: Int { onDemand?.count ?? steps.count }

    public func step(_ index: Int) -> [ScheduleOperation] { onDemand?.make(index) ?? steps[index] }

    /// The same schedule with every step held in memory (so it can be edited).
    public func materialized() -> Schedule {
        guard onDemand != nil else { return self }
        return Schedule(collective: collective, algorithm: algorithm, ranks: ranks, root: root, layout: layout,
                        steps: (0..<stepCount).map(step))
    }

    /// Whether any step loads or stores peers' memory directly.
    public var usesSharedMemory: Bool {
        (0..<stepCount).contains { step($0).contains { if case .shared = $0 { return true } else { return false } } }
    }

    /// The operations of `rank`, in execution order, with their step numbers.
    public func program(for rank: Int) -> [(step: Int, operation: ScheduleOperation)] {
        var program: [(Int, ScheduleOperation)] = []
        for index in 0..<stepCount {
            for operation in step(index) where operation.participants.contains(rank) {
                program.append((index, operation))
            }
        }
        return program
    }

    /// A copy with every operation passed through `transform`, which appends its
    /// replacements (on demand if this schedule is).
    func mappingOperations(_ transform: @escaping @Sendable (ScheduleOperation, inout [ScheduleOperation]) -> Void)
        -> Schedule
    {
        @Sendable func map(_ step: [ScheduleOperation]) -> [ScheduleOperation] {
            var out: [ScheduleOperation] = []
            out.reserveCapacity(step.count)
            for op in step { transform(op, &out) }
            return out
        }
        if let onDemand {
            return Schedule(collective: collective, algorithm: algorithm, ranks: ranks, root: root, layout: layout,
                            stepCount: onDemand.count, step: { map(onDemand.make($0)) })
        }
        var copy = self
        copy.steps = steps.map(map)
        return copy
    }

    /// The same schedule under another algorithm's name.
    func renamed(_ name: Algorithm) -> Schedule {
        var copy = Schedule(collective: collective, algorithm: name, ranks: ranks, root: root, layout: layout, steps: steps)
        copy.onDemand = onDemand
        return copy
    }
}
