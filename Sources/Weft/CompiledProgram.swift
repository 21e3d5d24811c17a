import CWeft
import WeftTopology

/// One rank's share of a schedule, lowered to the shim's flat operation array once and
/// reused for every call of the same (collective, algorithm, ranks, root, segments).
package struct CompiledProgram {
    package let operations: [weft_schedule_op_t]
    package let layout: ChunkLayout
    package let usesSharedMemory: Bool
    /// Whether some transfers run as pulls between ranks of one node (see `NodePulls`).
    package let hasPulls: Bool
    /// This rank's pulls (the transfers it reads from a node-mate).
    package let pullCount: Int
    let key: Key
    /// The schedule it came from (the emulated fabric simulates it for its hold times).
    let schedule: Schedule
    /// stepRanges[s]: this rank's operations of step s (empty where it has none).
    let stepRanges: [Range<Int>]

    package struct Key: Hashable {
        package var collective: Collective
        package var algorithm: Algorithm
        package var ranks: Int
        package var root: Int
        package var segments: Int

        package init(collective: Collective, algorithm: Algorithm, ranks: Int, root: Int, segments: Int) {
            self.collective = collective
            self.algorithm = algorithm
            self.ranks = ranks
            self.root = root
            self.segments = segments
        }
    }

    /// `pulls`: where set, transfers between ranks of one node that it picks run as pulls.
    package init(schedule: Schedule, rank: Int, key: Key, pulls: NodePulls? = nil) {
        self.key = key
        self.schedule = schedule
        layout = schedule.layout
        usesSharedMemory = schedule.usesSharedMemory
        var program: [(step: Int, operation: ScheduleOperation, pulled: Bool)] = []
        for index in 0..<schedule.stepCount {
            let step = schedule.step(index)
            let mine = step.indices.filter { step[$0].participants.contains(rank) }
            guard !mine.isEmpty else { continue }
            let pulled = pulls?.pulls(in: step) ?? []
            program += mine.map { (index, step[$0], pulled.contains($0)) }
        }
        hasPulls = program.contains { $0.pulled }
        pullCount = program.filter {
            guard $0.pulled, case .transfer(let from, _, _, _, _) = $0.operation else { return false }
            return from != rank
        }.count
        operations = program.map { step, operation, pulled in
            var op = weft_schedule_op_t()
            op.step = Int32(step)
            switch operation {
            case .transfer(let from, let to, let source, let destination, let reduce):
                if from == rank {
                    op.kind = Int32((pulled ? WEFT_OP_PULL_SEND : WEFT_OP_SEND).rawValue)
                    op.peer = Int32(to)
                } else {
                    let kind = pulled ? (reduce ? WEFT_OP_PULL_REDUCE : WEFT_OP_PULL_COPY)
                                      : (reduce ? WEFT_OP_RECV_REDUCE : WEFT_OP_RECV_COPY)
                    op.kind = Int32(kind.rawValue)
                    op.peer = Int32(from)
                }
                op.set(source, destination)
            case .localCopy(_, let source, let destination):
                op.kind = Int32(WEFT_OP_LOCAL_COPY.rawValue)
                op.peer = Int32(rank)
                op.set(source, destination)
            case .shared(_, let from, let source, let to, let destination, let reduce):
                op.kind = Int32((reduce ? WEFT_OP_SHARED_REDUCE : WEFT_OP_SHARED_COPY).rawValue)
                op.peer = Int32(from ?? -1)
                op.target = Int32(to ?? -1)
                op.set(source, destination)
            }
            return op
        }
        var ranges = [Range<Int>](repeating: 0..<0, count: schedule.stepCount)
        var i = 0
        while i < operations.count {
            var j = i
            while j < operations.count && operations[j].step == operations[i].step { j += 1 }
            ranges[Int(operations[i].step)] = i..<j
            i = j
        }
        stepRanges = ranges
    }

    func cLayout(blockCount: Int) -> weft_layout_t {
        weft_layout_t(blocks: Int64(layout.blocks), chunks_per_block: Int64(layout.chunksPerBlock),
                      block_count: Int64(blockCount))
    }
}

extension weft_schedule_op_t {
    fileprivate mutating func set(_ source: ChunkRange, _ destination: ChunkRange) {
        source_buffer = source.buffer.rawValue
        destination_buffer = destination.buffer.rawValue
        source_chunk = Int64(source.start)
        destination_chunk = Int64(destination.start)
        chunks = Int64(source.count)
    }
}
