import Foundation
import Weft
import WeftNN

/// Training with one model per group of ranks, each group data-parallel inside: deep
/// mutual learning (peers exchange logits every step, `MutualLearning.swift`) and online
/// co-distillation (groups exchange stale weights or predictions rarely,
/// `CoDistillation.swift`). This file holds what both share: the groups, divergence checks,
/// evaluation and accounting; the epoch loop and each peer's checkpoint `peer-G.weft` are
/// the shared `TrainingLoop`'s.
public final class GroupTrainer {
    public enum Method: String, Sendable { case mutualLearning = "dml", codistillation = "codistill" }

    let method: Method
    let options: TrainingOptions
    let group: GroupTrainingOptions
    let world: Communicator
    let groups: PeerGroups
    let train: Dataset
    let test: Dataset
    let loop: TrainingLoop
    var replica: Replica { loop.replica }

    /// Bytes this rank sent across groups, and seconds it spent doing so.
    var bytesAcross = 0
    var secondsAcross = 0.0
    /// Co-distillation state: stale teachers (other groups' models), or the shared batch
    /// and the teachers' probabilities on it.
    var teachers: [Replica] = []
    var teachersReady = false
    var sharedBatch: (x: Tensor, probabilities: [Float])?

    public init(method: Method, options: TrainingOptions, group: GroupTrainingOptions, world: Communicator,
                progress: ProgressReporter) throws {
        self.method = method
        self.options = options
        self.group = group
        self.world = world
        let peers = group.models.count
        guard peers >= 1 else { throw TrainingError("no models given") }
        // Named as the user asked for them (dml --peers, codistill --groups).
        let noun = method == .mutualLearning ? "peers" : "groups"
        if peers > world.size {
            throw TrainingError("\(peers) \(noun) need at least \(peers) ranks, "
                + "but the job has \(world.size); run mpirun -np \(peers) or more")
        }
        guard world.size % peers == 0 else {
            throw TrainingError("\(peers) \(noun) do not divide \(world.size) ranks; use a rank count that is a multiple of \(peers)")
        }
        let classes = Set(group.models.map(\.classes))
        guard classes.count == 1 else {
            let list = group.models.enumerated().map { "peer \($0.offset) (\($0.element.name)) has \($0.element.classes)" }
            throw TrainingError("peers must predict the same classes: " + list.joined(separator: ", "))
        }
        if method == .codistillation {
            guard group.exchangeEvery >= 1 else {
                throw TrainingError("--exchange-every must be at least 1 step, got \(group.exchangeEvery)")
            }
            guard group.burnIn >= 0 else { throw TrainingError("--burn-in must not be negative, got \(group.burnIn)") }
            guard ["weights", "predictions"].contains(group.exchange) else {
                throw TrainingError("unknown --exchange '\(group.exchange)' (choose from weights, predictions)")
            }
        }
        guard group.temperature > 0 && group.temperature.isFinite else {
            throw TrainingError("--temperature must be positive, got \(group.temperature)")
        }
        groups = try PeerGroups(world: world, groups: peers)
        retainFreedMemory()
        train = try options.trainingSet()
        test = try options.testSet()
        for (i, spec) in group.models.enumerated() where Array(spec.input) != train.sampleShape || spec.classes != train.classes {
            throw TrainingError("peer \(i) (\(spec.name)) takes input \(spec.input) with \(spec.classes) classes, "
                + "but the data are \(train.sampleShape) with \(train.classes) classes")
        }
        // Mutual learning: every peer sees the same batch (shared order); co-distillation:
        // each group its own order, as independent data-parallel jobs would.
        let orderSeed = method == .mutualLearning ? options.seed : options.seed &+ UInt64(groups.index) &* 1_000_003
        let sampler = try BatchSampler(samples: train.count, batchSize: options.batchSize, rank: groups.position,
                                       ranks: groups.size, seed: orderSeed)
        let totalSteps = options.epochs * sampler.batchesPerEpoch
        let replica = try Replica(spec: group.models[groups.index], options: options,
                                  seed: options.seed &+ UInt64(groups.index) &* 7919, totalSteps: totalSteps, rank: world.rank)
        let index = groups.index
        loop = try TrainingLoop(replica: replica, options: options, train: train, sampler: sampler, group: groups.group,
                                world: world, progress: progress,
                                checkpointPath: options.checkpointDirectory.map { "\($0)/peer-\(index).weft" },
                                methodSettings: GroupTrainer.resumeSettings(method, group))
        if method == .codistillation && group.exchange == "weights" {
            teachers = try (0..<peers).filter { $0 != groups.index }.map {
                try Replica(spec: group.models[$0], options: options, seed: 0, totalSteps: totalSteps, rank: world.rank)
            }
        }
        if method == .codistillation {
            loop.saveMethodState = { [unowned self] in self.distillationState }
            loop.restoreMethodState = { [unowned self] in try self.restoreDistillation($0, path: $1) }
        }
    }

    /// The method's settings recorded beside the checkpoints: the peer count and what
    /// co-distillation exchanges are fixed on resume, the rest noted when they change.
    static func resumeSettings(_ method: Method, _ group: GroupTrainingOptions) -> [String: String] {
        let shared = ["--temperature": "\(group.temperature)", TrainingOptions.methodKey: method.rawValue]
        switch method {
        case .mutualLearning:
            return shared.merging(["--peers": "\(group.models.count)", "--kl-weight": "\(group.distillWeight)"]) { $1 }
        case .codistillation:
            return shared.merging(["--groups": "\(group.models.count)", "--distill-weight": "\(group.distillWeight)",
                                   "--exchange": group.exchange, "--exchange-every": "\(group.exchangeEvery)",
                                   "--burn-in": "\(group.burnIn)"]) { $1 }
        }
    }

    /// This rank's group, its position in it, and the group's name for messages.
    public var groupIndex: Int { groups.index }
    public var groupPosition: Int { groups.position }
    /// This rank's copy of its group's model weights.
    public var parameters: [Float] { replica.model.store.parameterArray() }

    public func run() throws -> TrainingResult {
        let start = Date()
        let summary = try loop.run { batch in
            switch method {
            case .mutualLearning: try mutualLearningStep(batch.x, batch.labels, epoch: batch.epoch, step: batch.step)
            case .codistillation: try codistillationStep(batch.x, batch.labels, epoch: batch.epoch, step: batch.step)
            }
        }
        let evaluation = try PeerEvaluation.run(replica, test: test, groups: groups)
        var totals = [Double(replica.bytesInGroup), Double(bytesAcross), summary.seconds,
                      replica.secondsInGroup + secondsAcross]
        try world.allreduce(&totals, op: .sum, algorithm: .mpi)
        var slowest = [summary.seconds]
        try world.allreduce(&slowest, op: .max, algorithm: .mpi)
        let mine = groups.index
        // Each group's first rank gives its model's size (peers may differ: --models mlp,cnn).
        var sizes = [Double](repeating: 0, count: group.models.count)
        if groups.position == 0 { sizes[mine] = Double(replica.model.parameterCount) }
        try world.allreduce(&sizes, op: .sum, algorithm: .mpi)
        return TrainingResult(
            test_accuracy: evaluation.peerAccuracies[mine], test_loss: evaluation.peerLosses[mine],
            test_images: test.count, train_loss: summary.loss,
            epochs: summary.epochs, samples_per_s: Double(summary.samples) / max(slowest[0], 1e-9),
            comm_bytes: Int(totals[0] + totals[1]) / world.size, comm_time_s: totals[3] / Double(world.size),
            wall_s: Date().timeIntervalSince(start), ranks: world.size, parameters: Int(sizes[0]),
            peer_parameters: sizes.map { Int($0) },
            model: group.models.map(\.name).joined(separator: ","), comm_bytes_in_group: Int(totals[0]),
            comm_bytes_across_groups: Int(totals[1]), peer_accuracies: evaluation.peerAccuracies,
            ensemble_accuracy: evaluation.ensembleAccuracy, method: method.rawValue)
    }

    /// Stops the job when a peer's loss is not finite, naming the peer; its last
    /// checkpoint (if any) stays on disk.
    func checkFinite(losses: [Float], epoch: Int, step: Int) throws {
        guard let bad = losses.firstIndex(where: { !$0.isFinite }) else { return }
        let kept = options.checkpointDirectory.map { dir -> String in
            let path = "\(dir)/peer-\(bad).weft"
            return FileManager.default.fileExists(atPath: path) ? "; its last good checkpoint \(path) is kept" : ""
        } ?? ""
        throw PeerDivergence(message: "peer \(bad) (\(group.models[bad].name)) diverged: loss became "
            + "\(losses[bad].isNaN ? "NaN" : "infinite") at epoch \(epoch + 1), step \(step + 1)\(kept); lower --lr",
            reporter: groups.index == bad && groups.position == 0 || method == .mutualLearning && world.rank == 0,
            everywhere: method == .mutualLearning)
    }
}

/// A peer's loss stopped being finite. With mutual learning every rank knows (the losses
/// travel with the logits); with co-distillation only the peer's group does, so one of
/// its ranks reports and the job is aborted.
public struct PeerDivergence: Error, CustomStringConvertible {
    public let message: String
    /// Whether this rank prints the message.
    public let reporter: Bool
    /// Whether every rank of the job raised it (a clean exit) or only the peer's group.
    public let everywhere: Bool
    public var description: String { message }
}
