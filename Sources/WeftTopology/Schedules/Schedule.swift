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
    var participants: [Int] {
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
    public func elementOffset(ofChunk chunk: Int, blockCount: Int) -> Int {
        let block = chunk / chunksPerBlock, sub = chunk % chunksPerBlock
        return block * blockCount + blockCount * sub / chunksPerBlock
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
    public var steps: [[ScheduleOperation]]

    public init(collective: Collective, algorithm: Algorithm, ranks: Int, root: Int = 0, layout: ChunkLayout,
                steps: [[ScheduleOperation]] = []) {
        self.collective = collective
        self.algorithm = algorithm
        self.ranks = ranks
        self.root = root
        self.layout = layout
        self.steps = steps
    }

    /// Whether any step loads or stores peers' memory directly.
    public var usesSharedMemory: Bool {
        steps.contains { $0.contains { if case .shared = $0 { return true } else { return false } } }
    }

    /// The operations of `rank`, in execution order, with their step numbers.
    public func program(for rank: Int) -> [(step: Int, operation: ScheduleOperation)] {
        var program: [(Int, ScheduleOperation)] = []
        for (index, step) in steps.enumerated() {
            for operation in step where operation.participants.contains(rank) {
                program.append((index, operation))
            }
        }
        return program
    }
}
