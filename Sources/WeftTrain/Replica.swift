import Foundation
import Weft
import WeftNN

/// One model trained by a group of data-parallel ranks: weights, optimizer, learning-rate
/// schedule, and the gradient averaging inside the group. The training methods with
/// several models (mutual learning, co-distillation) hold one per group.
final class Replica {
    let spec: ModelSpec
    let model: Model
    let optimizer: Optimizer
    let options: TrainingOptions
    let totalSteps: Int
    /// Bytes this rank handed to in-group collectives.
    private(set) var bytesInGroup = 0
    private(set) var secondsInGroup = 0.0

    /// A fresh model from `seed`; each rank draws its own dropout masks.
    convenience init(spec: ModelSpec, options: TrainingOptions, seed: UInt64, totalSteps: Int, rank: Int) throws {
        let model = try Model(spec: spec, seed: seed)
        var states = model.network.randomStates
        for i in states.indices { states[i] = SeededRandom(seed: seed).derived(UInt64(rank * 1000 + i)).state }
        model.network.randomStates = states
        try self.init(model: model, options: options, totalSteps: totalSteps)
    }

    /// Trains `model` as it is (the supernet builds its own).
    init(model: Model, options: TrainingOptions, totalSteps: Int) throws {
        spec = model.spec
        self.model = model
        self.options = options
        self.totalSteps = totalSteps
        optimizer = try Replica.optimizer(options, count: model.parameterCount)
    }

    static func optimizer(_ options: TrainingOptions, count: Int) throws -> Optimizer {
        switch options.optimizer {
        case "sgd":
            return SGD(count: count, learningRate: options.learningRate, momentum: options.momentum,
                       nesterov: options.nesterov, weightDecay: options.weightDecay)
        case "adamw":
            return AdamW(count: count, learningRate: options.learningRate, weightDecay: options.weightDecay)
        default:
            throw TrainingError("unknown optimizer '\(options.optimizer)' (choose from sgd, adamw)")
        }
    }

    static func schedule(_ options: TrainingOptions, totalSteps: Int) -> LearningRateSchedule {
        switch options.schedule {
        case "constant": return .constant
        case "step": return .step(every: max(1, totalSteps / 3), gamma: 0.1)
        default: return .cosine(warmup: options.warmupSteps, total: totalSteps)
        }
    }

    /// The group's rank 0 weights and statistics to every rank of the group.
    func synchronize(group: Communicator) throws {
        guard group.size > 1 else { return }
        try group.broadcast(model.store.values, root: 0)
        try group.broadcast(model.store.state, root: 0)
        bytesInGroup += (model.store.values.count + model.store.state.count) * 4
    }

    /// Averages gradients across the group in buckets of `bucketBytes`.
    func averageGradients(group: Communicator) throws {
        guard group.size > 1 else { return }
        secondsInGroup += try averageInBuckets(model.store.gradients, over: group, bucketBytes: options.bucketBytes)
        bytesInGroup += model.store.gradients.count * MemoryLayout<Float>.stride
    }

    /// Batch-norm running statistics averaged over the group (before evaluation).
    func synchronizeStatistics(group: Communicator) throws {
        guard group.size > 1 && model.store.stateCount > 0 else { return }
        try group.allreduce(model.store.state, op: .avg, algorithm: .mpi)
    }

    /// One optimizer step at the schedule's rate; `mask` leaves untouched parameters alone.
    func applyGradients(step: Int, mask: [Bool]? = nil) {
        optimizer.learningRate = Replica.schedule(options, totalSteps: totalSteps).rate(base: options.learningRate, step: step)
        optimizer.step(parameters: model.store.values, gradients: UnsafeBufferPointer(model.store.gradients), mask: mask)
    }

    /// Weights followed by batch-norm statistics: what a teacher copy needs.
    var snapshot: [Float] { Array(model.store.values) + Array(model.store.state) }

    func load(snapshot: ArraySlice<Float>) {
        let p = model.store.values.count
        _ = model.store.values.update(fromContentsOf: snapshot.prefix(p))
        _ = model.store.state.update(fromContentsOf: snapshot.dropFirst(p).prefix(model.store.state.count))
    }

    var snapshotCount: Int { model.store.values.count + model.store.state.count }

    func countInGroup(bytes: Int) { bytesInGroup += bytes }
}

/// Averages `gradients` across `communicator`, fused into buckets of `bucketBytes` (one
/// allreduce each); returns the seconds it took.
func averageInBuckets(_ gradients: UnsafeMutableBufferPointer<Float>, over communicator: Communicator,
                      bucketBytes: Int) throws -> Double {
    let bucket = max(1, bucketBytes / MemoryLayout<Float>.stride)
    let t0 = Runtime.wallTime()
    var offset = 0
    while offset < gradients.count {
        let end = min(offset + bucket, gradients.count)
        try communicator.allreduce(UnsafeMutableBufferPointer(rebasing: gradients[offset..<end]), op: .avg)
        offset = end
    }
    return Runtime.wallTime() - t0
}

/// Places a model's gradients in a registered shared window of `communicator` (more than one
/// rank): on one node the gradient allreduce's `direct` algorithm then reads peers' gradients
/// in place instead of staging them through a copy; across nodes, where some node holds
/// several ranks, two-level's steps inside a node read node-mates' gradients directly.
func registerGradients(_ store: ParameterStore, _ communicator: Communicator) throws -> RegisteredBuffer<Float>? {
    guard communicator.size > 1 && store.parameterCount > 0 else { return nil }
    if !communicator.isNodeLocal, try !communicator.nodes().contains(where: { $0.count > 1 }) { return nil }
    let buffer = try communicator.registeredBuffer(of: Float.self, count: store.parameterCount)
    store.useGradientStorage(buffer.pointer)
    return buffer
}

/// Gradient of the distillation term: `weight` · ∂KL(teacher ‖ student)/∂student with
/// temperature T (T² scaled), added to `gradient`; returns the term's loss.
func addDistillation(student: Tensor, teacherProbabilities: [Float], temperature: Float, weight: Float,
                     into gradient: inout Tensor) -> Float {
    // Logits whose tempered softmax is exactly the given probabilities.
    let teacher = Tensor(shape: student.shape, data: teacherProbabilities.map { temperature * logf(max($0, 1e-30)) })
    let (loss, g) = KLDivergence.lossAndGradient(student: student, teacher: teacher, temperature: temperature)
    for i in gradient.data.indices { gradient.data[i] += weight * g.data[i] }
    return loss * weight
}
