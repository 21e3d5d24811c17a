import Foundation
import Weft
import WeftTopology

/// One benchmark run for one element type: buffers allocated once at the largest size,
/// then every (size, algorithm) timed, optionally checked against native MPI, and printed.
final class BenchRunner<T: WeftScalar & Numeric & Comparable> {
    private let options: Bench
    private let request: Bench.Request
    private let communicator: Communicator
    private let collective: Collective
    private var registered: [RegisteredBuffer<T>] = []
    private let data: UnsafeMutableBufferPointer<T>
    private let output: UnsafeMutableBufferPointer<T>
    private let report: BenchReport

    init(_ options: Bench, _ request: Bench.Request, _ communicator: Communicator) throws {
        self.options = options
        self.request = request
        self.communicator = communicator
        collective = request.collective
        let capacity = max(1, options.maxBytes.bytes / MemoryLayout<T>.stride)
        if !options.unregistered {
            let d = try communicator.registeredBuffer(of: T.self, count: capacity)
            let o = try communicator.registeredBuffer(of: T.self, count: collective == .alltoall ? capacity : 1)
            registered = [d, o]
            data = d.pointer
            output = o.pointer
        } else {
            data = .allocate(capacity: capacity)
            output = .allocate(capacity: collective == .alltoall ? capacity : 1)
        }
        data.initialize(repeating: 0)
        output.initialize(repeating: 0)
        report = BenchReport(format: request.format, collective: collective, ranks: communicator.size,
                             printing: communicator.rank == 0)
    }

    deinit {
        if registered.isEmpty {
            data.deallocate()
            output.deallocate()
        } else {
            registered.forEach { $0.free() }
        }
    }

    /// The smallest non-empty message: one element, or one per rank where each rank owns a
    /// block (reduce-scatter, allgather, alltoall), since sizes round down to whole blocks.
    private var smallestMessage: Int {
        MemoryLayout<T>.stride * (collective.isBlockwise ? communicator.size : 1)
    }

    /// Message sizes: doubling from --min-bytes to --max-bytes (barrier: one empty row). Sizes
    /// below the smallest message are skipped, as OSU's reduce-scatter does: they would be the
    /// empty message, which only --min-bytes 0 asks for.
    private var sizes: [Int] {
        if collective == .barrier { return [0] }
        var sizes: [Int] = []
        var bytes = options.minBytes.bytes
        if bytes == 0 {
            sizes.append(0)
            bytes = MemoryLayout<T>.stride
        }
        while bytes <= options.maxBytes.bytes {
            if bytes >= smallestMessage { sizes.append(bytes) }
            bytes *= 2
        }
        return sizes
    }

    func run() throws {
        let sizes = self.sizes
        if sizes.isEmpty {
            // Every rank computes the same and fails alike.
            let smallest = smallestMessage
            failEverywhere("--max-bytes \(options.maxBytes) is smaller than one \(request.type.rawValue) element per rank for \(collective.rawValue) on \(communicator.size) ranks (\(smallest) bytes); use at least \(smallest)")
        }
        let algorithms = request.algorithms.filter { algorithm in
            // `all` skips direct where ranks share no memory, and topology-aware algorithms
            // whose network or placement does not suit them; asked for by name they error.
            if request.explicit { return true }
            if algorithm == .direct { return communicator.isNodeLocal }
            if algorithm.needsTopology, let network = communicator.network {
                return (try? Schedules.make(collective, algorithm: algorithm, ranks: network.placement.count, network: network.network,
                                                    placement: network.placement)) != nil
            }
            return true
        }
        // Collective (every rank asks MPI once); the header names the node layout, which auto's
        // two-level rules read.
        let nodes = communicator.isNodeLocal ? nil : try communicator.nodes()
        report.header(options: options, request: request, registered: !registered.isEmpty, network: communicator.network,
                      nodes: nodes)
        for bytes in sizes {
            var count = bytes / MemoryLayout<T>.stride
            if collective.isBlockwise { count -= count % communicator.size }
            let labels = try algorithms.map { algorithm in
                algorithm == .auto
                    ? "auto:" + (try communicator.resolve(.auto, collective, bytes: count * MemoryLayout<T>.stride,
                                                          registered: !registered.isEmpty)).rawValue
                    : algorithm.rawValue
            }
            var wrong: [Int?] = []
            for (algorithm, label) in zip(algorithms, labels) {
                wrong.append(options.check ? try failingTheJob(label, count) { try verify(algorithm, count: count) } : nil)
            }
            let times = try roundMedians(algorithms, count: count, labels: labels)
            for i in algorithms.indices {
                report.row(bytes: count * MemoryLayout<T>.stride, count: count, algorithm: labels[i], seconds: times[i],
                           wrong: wrong[i])
            }
        }
        report.footer()
    }

    /// Every algorithm timed once per round, the rounds interleaved so that a machine's drift
    /// falls on all of them alike; per algorithm the median over rounds of each round's median.
    private func roundMedians(_ algorithms: [Algorithm], count: Int, labels: [String]? = nil) throws -> [Double] {
        var rounds = [[Double]](repeating: [], count: algorithms.count)
        for _ in 0..<options.rounds {
            for (i, algorithm) in algorithms.enumerated() {
                rounds[i].append(try failingTheJob(labels?[i] ?? algorithm.rawValue, count) {
                    try measure(algorithm, count: count)
                })
            }
        }
        return rounds.map(median)
    }

    /// Runs one measurement; a transport error ends the job with one line naming the case.
    private func failingTheJob<R>(_ label: String, _ count: Int, _ body: () throws -> R) throws -> R {
        do {
            return try body()
        } catch let error as WeftError {
            printError("rank \(communicator.rank): \(collective.rawValue) with \(label) at "
                + "\(count * MemoryLayout<T>.stride) bytes failed: \(error)")
            Runtime.abort(code: 1)
        }
    }

    /// Median time of every algorithm at every size, for `weft tune`: (bytes, algorithm, seconds).
    func timings(_ algorithms: [Algorithm]) throws -> [(bytes: Int, algorithm: Algorithm, seconds: Double)] {
        var out: [(bytes: Int, algorithm: Algorithm, seconds: Double)] = []
        for bytes in sizes {
            var count = bytes / MemoryLayout<T>.stride
            if collective.isBlockwise { count -= count % communicator.size }
            for (algorithm, seconds) in zip(algorithms, try roundMedians(algorithms, count: count)) {
                out.append((count * MemoryLayout<T>.stride, algorithm, seconds))
            }
        }
        return out
    }

    private func invoke(_ algorithm: Algorithm, count: Int) throws {
        let o = collective == .alltoall ? UnsafeMutableBufferPointer(rebasing: output[0..<count]) : nil
        try communicator.perform(collective, UnsafeMutableBufferPointer(rebasing: data[0..<count]), output: o,
                                 op: request.op, root: options.root, algorithm: algorithm)
    }

    /// Median over iterations of the slowest rank's time for one call.
    private func measure(_ algorithm: Algorithm, count: Int) throws -> Double {
        for _ in 0..<options.warmup { try invoke(algorithm, count: count) }
        let scale = communicator.fabric.map { 1 / $0.slowdown } ?? 1
        let iterations = options.iterations(bytes: count * MemoryLayout<T>.stride)
        var times = [Double](repeating: 0, count: iterations)
        for i in 0..<iterations {
            let start = Runtime.wallTime()
            try invoke(algorithm, count: count)
            times[i] = (Runtime.wallTime() - start) * scale
        }
        try communicator.allreduce(&times, op: .max, algorithm: .mpi)
        return median(times)
    }

    // MARK: - Checking against native MPI

    /// Small integers, so float sums are exact in any order and products stay finite.
    private func fill(count: Int) {
        let rank = communicator.rank, size = communicator.size
        let block = collective.isBlockwise ? count / max(size, 1) : count
        for i in 0..<count {
            let value = T(exactly: request.op == .prod ? 1 + (i + rank) % 2 : 1 + (i * 7 + rank * 3) % 13)!
            switch collective {
            case .allgather: data[i] = i / max(block, 1) == rank ? value : T(exactly: -1)!
            case .broadcast: data[i] = rank == options.root ? value : T(exactly: -1)!
            default: data[i] = value
            }
            if collective == .alltoall { output[i] = T(exactly: -1)! }
        }
    }

    /// The part of the result the collective defines on this rank.
    private func result(count: Int) -> [T] {
        let block = count / max(communicator.size, 1)
        switch collective {
        case .reduceScatter: return Array(data[(communicator.rank * block)..<((communicator.rank + 1) * block)])
        case .reduce: return communicator.rank == options.root ? Array(data[0..<count]) : []
        case .alltoall: return Array(output[0..<count])
        case .barrier: return []
        default: return Array(data[0..<count])
        }
    }

    /// Elements differing from native MPI's result, summed over ranks.
    private func verify(_ algorithm: Algorithm, count: Int) throws -> Int {
        fill(count: count)
        try invoke(algorithm, count: count)
        let got = result(count: count)
        fill(count: count)
        try invoke(.mpi, count: count)
        let expected = result(count: count)
        var wrong = [Int64(zip(got, expected).filter { !BenchRunner.agree($0, $1) }.count)]
        try communicator.allreduce(&wrong, op: .sum, algorithm: .mpi)
        return Int(wrong[0])
    }

    static func agree(_ a: T, _ b: T) -> Bool {
        switch (a, b) {
        case let (x as Float, y as Float): return x == y || abs(x - y) <= 1e-5 * max(abs(x), abs(y))
        case let (x as Double, y as Double): return x == y || abs(x - y) <= 1e-12 * max(abs(x), abs(y))
        default: return a == b
        }
    }
}

/// The middle value (the mean of the two middle ones for an even count).
private func median(_ values: [Double]) -> Double {
    let sorted = values.sorted(), n = sorted.count
    return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
}
