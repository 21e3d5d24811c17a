// Multi-rank tests of the transport and every scheduled algorithm, run by launch/test
// under mpirun with 1, 2, 3 and 4 ranks. Results are compared with closed forms (values
// are small integers, so float sums are exact in any order) and with native MPI.
// Prints one line per failure and ends with `N passed, N failed` (from rank 0).
import Foundation
import Weft
import WeftNN
import WeftTopology
import WeftTrain

let world = try Communicator.world()
let rank = world.rank, size = world.size
var harness = Harness(world)

// MARK: - Values and closed forms

/// Rank r's i-th input: a small positive integer (exact in every type).
func input(_ r: Int, _ i: Int) -> Int { 1 + (i * 5 + r * 3) % 11 }

func expected(_ op: ReduceOp, _ i: Int, ranks: Int) -> Int {
    let values = (0..<ranks).map { input($0, i) }
    switch op {
    case .sum: return values.reduce(0, +)
    case .avg: return values.reduce(0, +) / ranks
    case .prod: return values.map { $0 % 3 + 1 }.reduce(1, *)
    case .max: return values.max()!
    case .min: return values.min()!
    }
}

func value(_ op: ReduceOp, _ r: Int, _ i: Int) -> Int { op == .prod ? input(r, i) % 3 + 1 : input(r, i) }

func close<T: BinaryFloatingPoint>(_ a: T, _ b: T) -> Bool { abs(a - b) <= 1e-5 * max(abs(a), abs(b), 1) }

// MARK: - Collectives against closed forms, every algorithm

let algorithms = Algorithm.concrete + [.auto]
let counts = Array(Set([0, 1, max(1, size - 1), size + 1, 7 * size + 3, 1000, 65_537])).sorted()

func run<T: WeftScalar & BinaryInteger>(_ type: T.Type, _ collective: Collective, _ algorithm: Algorithm,
                                       count: Int, op: ReduceOp, root: Int) throws -> String? {
    let block = collective.isBlockwise ? count : 0
    let total = collective.isBlockwise ? count * size : count
    var data = [T](repeating: T(0), count: total)
    var output = [T](repeating: T(0), count: total)
    for i in 0..<total {
        switch collective {
        case .allgather: data[i] = i / max(block, 1) == rank ? T(input(rank, i)) : T(0) - 1
        case .broadcast: data[i] = rank == root ? T(input(rank, i)) : T(0) - 1
        default: data[i] = T(value(op, rank, i))
        }
    }
    try data.withUnsafeMutableBufferPointer { d in
        try output.withUnsafeMutableBufferPointer { o in
            try world.perform(collective, d, output: o, op: op, root: root, algorithm: algorithm)
        }
    }
    for i in 0..<total {
        let want: Int?
        let got: T
        switch collective {
        case .allreduce: want = expected(op, i, ranks: size); got = data[i]
        case .reduceScatter: want = i / block == rank ? expected(op, i, ranks: size) : nil; got = data[i]
        case .reduce: want = rank == root ? expected(op, i, ranks: size) : nil; got = data[i]
        case .allgather: want = input(i / block, i); got = data[i]
        case .broadcast: want = input(root, i); got = data[i]
        case .alltoall:
            // Output block j holds rank j's input block `rank`.
            let j = i / block, within = i % block
            want = value(op, j, rank * block + within); got = output[i]
        case .barrier: want = nil; got = 0
        }
        if let want, got != T(want) {
            return "element \(i) is \(got), expected \(want)"
        }
    }
    return nil
}

for algorithm in algorithms {
    for collective in Schedules.collectives(servedBy: algorithm) {
        let ops: [ReduceOp] = collective.reduces ? ReduceOp.allCases : [.sum]
        for op in ops {
            let root = collective.isRooted ? size - 1 : 0
            let testCounts = collective == .barrier ? [0] : (op == .sum ? counts : [0, 3, 1000])
            for count in testCounts {
                harness.test("\(collective.rawValue) \(algorithm.rawValue) \(op.rawValue) i64 count \(count)") {
                    try run(Int64.self, collective, algorithm, count: count, op: op, root: root)
                }
            }
            if op == .sum {
                harness.test("\(collective.rawValue) \(algorithm.rawValue) i32 count 1001") {
                    try run(Int32.self, collective, algorithm, count: 1001, op: op, root: root)
                }
            }
        }
    }
}

// Floats against native MPI, on registered and ordinary memory.
for algorithm in Algorithm.concrete where Schedules.collectives(servedBy: algorithm).contains(.allreduce) {
    for registered in [false, true] where !registered || world.isNodeLocal {
        harness.test("allreduce \(algorithm.rawValue) f32 1M elements vs native, registered \(registered)") {
            let n = 1 << 20
            let mine: UnsafeMutableBufferPointer<Float>
            var buffer: RegisteredBuffer<Float>?
            if registered {
                buffer = try world.registeredBuffer(of: Float.self, count: n)
                mine = buffer!.pointer
            } else {
                mine = .allocate(capacity: n)
            }
            defer { if let buffer { buffer.free() } else { mine.deallocate() } }
            for i in 0..<n { mine[i] = Float(i % 1000) * 0.001 + Float(rank) }
            var reference = Array(mine)
            try world.allreduce(mine, algorithm: algorithm)
            try world.allreduce(&reference, algorithm: .mpi)
            for i in 0..<n where !close(mine[i], reference[i]) {
                return "element \(i) is \(mine[i]), native MPI gives \(reference[i])"
            }
            return nil
        }
    }
}

harness.test("f64 allreduce of doubles agrees with native MPI for every algorithm") {
    for algorithm in Algorithm.concrete where Schedules.collectives(servedBy: algorithm).contains(.allreduce) {
        var mine = (0..<777).map { Double($0) * 1.5 + Double(rank) / 3 }
        var reference = mine
        try world.allreduce(&mine, algorithm: algorithm)
        try world.allreduce(&reference, algorithm: .mpi)
        if let i = mine.indices.first(where: { !close(mine[$0], reference[$0]) }) {
            return "\(algorithm.rawValue): element \(i) is \(mine[i]), native MPI gives \(reference[i])"
        }
    }
    return nil
}

// Transfers larger than one MPI message are split: exercised by shrinking the limit.
harness.test("messages split at the message-size limit stay correct") {
    Runtime.setMaxMessageBytes(64)
    defer { Runtime.setMaxMessageBytes(1 << 30) }
    for algorithm in [Algorithm.ring, .rabenseifner, .tree, .mpi] {
        if let problem = try run(Int64.self, .allreduce, algorithm, count: 1001, op: .sum, root: 0) {
            return "\(algorithm.rawValue): \(problem)"
        }
    }
    return try run(Int32.self, .broadcast, .mpi, count: 1001, op: .sum, root: 0)
}

// MARK: - Communicators, windows

harness.test("split into even and odd ranks, then allreduce within each") {
    guard let half = try world.split(color: rank % 2, key: rank) else { return "split returned nil" }
    var x = [Int64(rank)]
    try half.allreduce(&x, algorithm: .ring)
    let want = stride(from: rank % 2, to: size, by: 2).reduce(0, +)
    if half.size != (size + 1 - rank % 2) / 2 { return "sub-communicator has \(half.size) ranks" }
    return x[0] == Int64(want) ? nil : "sum \(x[0]), expected \(want)"
}

harness.test("negative colour leaves a rank out of a split") {
    let part = try world.split(color: rank == 0 ? -1 : 1, key: rank)
    if rank == 0 { return part == nil ? nil : "rank 0 got a communicator" }
    return part?.size == size - 1 ? nil : "sub-communicator size \(part?.size ?? -1)"
}

harness.test("node split and duplicate keep every rank on this machine") {
    let node = try world.splitByNode()
    let copy = try world.duplicate()
    var x = [Int32(1)]
    try copy.allreduce(&x, algorithm: .recursiveDoubling)
    return node.size == size && x[0] == Int32(size) ? nil : "node \(node.size), sum \(x[0])"
}

harness.test("RMA window: put to the right neighbour, get from the left") {
    let window = try MemoryWindow(communicator: world, bytes: 8 * size)
    defer { window.free() }
    window.base.initializeMemory(as: Int64.self, repeating: -1, count: size)
    try window.synchronize()
    try world.barrier(algorithm: .mpi)
    var mine = Int64(100 + rank)
    try withUnsafeBytes(of: &mine) { try window.put($0, to: (rank + 1) % size, offset: 8 * rank) }
    try window.flush()
    try world.barrier(algorithm: .mpi)
    try window.synchronize()
    let left = (rank + size - 1) % size
    let landed = window.base.load(fromByteOffset: 8 * left, as: Int64.self)
    if landed != Int64(100 + left) { return "put from rank \(left) landed as \(landed)" }
    var fetched = Int64(0)
    try withUnsafeMutableBytes(of: &fetched) { try window.get($0, from: left, offset: 8 * ((left + size - 1) % size)) }
    try window.flush(left)
    let want = Int64(100 + (left + size - 1) % size)
    try world.barrier(algorithm: .mpi)
    return fetched == want ? nil : "get returned \(fetched), expected \(want)"
}

harness.test("RMA window rejects a range outside the window") {
    let window = try MemoryWindow(communicator: world, bytes: 16)
    defer { window.free() }
    var x = Int64(0)
    do {
        try withUnsafeBytes(of: &x) { try window.put($0, to: 0, offset: 12) }
        return "no error"
    } catch let error as WeftError {
        return error.description == "MemoryWindow: range 12..<20 outside the 16-byte window" ? nil : "\(error)"
    }
}

// MARK: - Bad input

harness.test("a root outside the communicator is refused with its range") {
    var x = [Float](repeating: 0, count: 4)
    do {
        try world.broadcast(&x, root: size, algorithm: .tree)
        return "no error"
    } catch {
        let want = "broadcast: root \(size) is not a rank of this \(size)-rank communicator (use 0…\(size - 1))"
        return "\(error)" == want ? nil : "\(error)"
    }
}

harness.test("an algorithm that cannot serve the collective says what it serves") {
    var x = [Float](repeating: 0, count: 4 * size)
    var y = x
    do {
        try x.withUnsafeMutableBufferPointer { a in
            try y.withUnsafeMutableBufferPointer { b in try world.alltoall(a, output: b, algorithm: .doubleTree) }
        }
        return "no error"
    } catch {
        return "\(error)" == "alltoall: algorithm 'double-tree' cannot run alltoall; it serves: allreduce" ? nil : "\(error)"
    }
}

if size > 1 {
    harness.test("a block collective on a buffer that is not one block per rank is refused") {
        var x = [Float](repeating: 0, count: size + 1)
        do {
            try x.withUnsafeMutableBufferPointer { try world.allgather($0, algorithm: .ring) }
            return "no error"
        } catch {
            let want = "allgather: buffer of \(size + 1) elements is not \(size) equal blocks (one per rank)"
            return "\(error)" == want ? nil : "\(error)"
        }
    }

    harness.test("mismatched counts across ranks are detected (direct)") {
        var x = [Float](repeating: 1, count: 100 + (rank == 0 ? 1 : 0))
        do {
            try world.allreduce(&x, algorithm: .direct)
            return "no error"
        } catch let error as WeftError {
            return error.isCountMismatch ? nil : "\(error)"
        }
    }

    if size == 2 {
        harness.test("mismatched counts across ranks are detected (ring)") {
            var x = [Float](repeating: 1, count: 100 + (rank == 0 ? 2 : 0))
            do {
                try world.allreduce(&x, algorithm: .ring)
                return "no error"
            } catch let error as WeftError {
                let ok = error.isCountMismatch || error.reason.lowercased().contains("truncat")
                return ok ? nil : "\(error)"
            }
        }
    }

    // Last: a rank that never arrives. Peers must fail after the timeout, not hang.
    harness.test("a missing peer fails the collective after the timeout") {
        Runtime.timeout = 1
        defer { Runtime.timeout = 60 }
        var x = [Float](repeating: 1, count: 64)
        if rank == 0 { return nil }
        let start = Date()
        do {
            try world.allreduce(&x, algorithm: .direct)
            return "no error"
        } catch let error as WeftError {
            let waited = Date().timeIntervalSince(start)
            return error.isTimeout && waited < 5 ? nil : "\(error) after \(waited) s"
        }
    }
}

// MARK: - Deep mutual learning against a plain single-process reference

harness.test("dml with \(size) peers matches a sequential reference implementation") {
    var options = TrainingOptions()
    options.model = try ModelSpec(json: """
        {"input": [1, 28, 28], "classes": 10, "layers": [{"type": "flatten"}, {"type": "dense", "out": 10}]}
        """, source: "linear")
    options.epochs = 1
    options.batchSize = 32
    options.trainLimit = 256
    options.seed = 5
    var group = GroupTrainingOptions()
    group.models = Array(repeating: options.model, count: size)
    group.temperature = 2
    group.distillWeight = 0.5
    let trainer = try GroupTrainer(method: .mutualLearning, options: options, group: group, world: world,
                                   progress: ProgressReporter(rank: 1))
    _ = try trainer.run()
    let distributed = trainer.parameters
    // The reference: every peer in this process, one after another, from the definition.
    let data = try FashionMNIST.load(train: true, directory: options.dataDirectory).prefix(256)
    let models = try (0..<size).map { try Model(spec: options.model, seed: 5 &+ UInt64($0) &* 7919) }
    let optimizers = models.map { SGD(count: $0.parameterCount, learningRate: 0.05, momentum: 0.9, nesterov: false, weightDecay: 5e-4) }
    let sampler = try BatchSampler(samples: 256, batchSize: 32, rank: 0, ranks: 1, seed: 5)
    let order = sampler.permutation(epoch: 0)
    let total = sampler.batchesPerEpoch
    for batch in 0..<total {
        var random = SeededRandom(seed: 5).derived(UInt64(batch))
        let (x, labels) = BatchBuilder().make(data, sampler.batch(batch, of: order), random: &random)
        let logits = models.map { $0.forward(x, training: true) }
        for (k, model) in models.enumerated() {
            model.store.zeroGradients()
            var gradient = CrossEntropy.lossAndGradient(logits: logits[k], labels: labels).gradient
            for j in 0..<size where j != k {
                let kl = KLDivergence.lossAndGradient(student: logits[k], teacher: logits[j], temperature: 2).gradient
                for i in gradient.data.indices { gradient.data[i] += 0.5 / Float(size - 1) * kl.data[i] }
            }
            model.backward(gradient)
            optimizers[k].learningRate = LearningRateSchedule.cosine(warmup: 0, total: total).rate(base: 0.05, step: batch)
            optimizers[k].step(parameters: model.store.values, gradients: UnsafeBufferPointer(model.store.gradients), mask: nil)
        }
    }
    let reference = models[trainer.groupIndex].store.parameterArray()
    let worst = zip(distributed, reference).map { abs($0 - $1) }.max() ?? 0
    return worst <= 1e-5 ? nil : "weights differ from the reference by up to \(worst)"
}

harness.finish()

// MARK: - Harness

/// Runs each test on every rank; a test passes when no rank reports a problem.
struct Harness {
    let world: Communicator
    var passed = 0
    var failed = 0

    init(_ world: Communicator) { self.world = world }

    mutating func test(_ name: String, _ body: () throws -> String?) {
        var problem: String?
        do {
            problem = try body()
        } catch {
            problem = "threw \(error)"
        }
        if let problem { print("FAIL [\(world.size) ranks] rank \(world.rank): \(name): \(problem)") }
        var failures = [Int32(problem == nil ? 0 : 1)]
        try? world.allreduce(&failures, op: .max, algorithm: .mpi)
        if failures[0] == 0 { passed += 1 } else { failed += 1 }
    }

    func finish() {
        if world.rank == 0 { print("\(passed) passed, \(failed) failed") }
        Runtime.finalize()
        exit(failed == 0 ? 0 : 1)
    }
}
