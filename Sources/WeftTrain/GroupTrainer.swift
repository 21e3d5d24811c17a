import Foundation
import Weft
import WeftNN

/// Training with one model per group of ranks, each group data-parallel inside: deep
/// mutual learning (peers exchange logits every step, `MutualLearning.swift`) and online
/// co-distillation (groups exchange stale weights or predictions rarely,
/// `CoDistillation.swift`). This file holds what both share: the epoch loop, divergence
/// checks, per-peer checkpoints, evaluation and accounting.
public final class GroupTrainer {
    public enum Method: String, Sendable { case mutualLearning = "dml", codistillation = "codistill" }

    let method: Method
    let options: TrainingOptions
    let group: GroupTrainingOptions
    let world: Communicator
    let groups: PeerGroups
    let progress: ProgressReporter
    let replica: Replica
    let train: Dataset
    let test: Dataset
    let sampler: BatchSampler
    let totalSteps: Int
    let builder: BatchBuilder

    /// Bytes this rank sent across groups, and seconds it spent doing so.
    var bytesAcross = 0
    var secondsAcross = 0.0
    /// Co-distillation state: stale teachers (other groups' models), or the shared batch
    /// and the teachers' probabilities on it.
    var teachers: [Replica] = []
    var teachersReady = false
    var sharedBatch: (x: Tensor, probabilities: [Float])?
    /// The model's gradients in a shared window of the group (single-copy allreduce).
    private var registeredGradients: RegisteredBuffer<Float>?

    public init(method: Method, options: TrainingOptions, group: GroupTrainingOptions, world: Communicator,
                progress: ProgressReporter) throws {
        self.method = method
        self.options = options
        self.group = group
        self.world = world
        self.progress = progress
        let peers = group.models.count
        guard peers >= 1 else { throw TrainingError("no models given") }
        if peers > world.size {
            throw TrainingError("\(peers) \(method == .mutualLearning ? "peers" : "groups") need at least \(peers) ranks, "
                + "but the job has \(world.size); run mpirun -np \(peers) or more")
        }
        let classes = Set(group.models.map(\.classes))
        guard classes.count == 1 else {
            let list = group.models.enumerated().map { "peer \($0.offset) (\($0.element.name)) has \($0.element.classes)" }
            throw TrainingError("peers must predict the same classes: " + list.joined(separator: ", "))
        }
        if options.resume {
            throw TrainingError("--resume is supported by train dp only; dml and codistill keep per-peer checkpoints but restart from scratch")
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
        var train = try FashionMNIST.load(train: true, directory: options.dataDirectory)
        if let limit = options.trainLimit { train = train.prefix(limit) }
        self.train = train
        test = try FashionMNIST.load(train: false, directory: options.dataDirectory)
        for (i, spec) in group.models.enumerated() where Array(spec.input) != train.sampleShape || spec.classes != train.classes {
            throw TrainingError("peer \(i) (\(spec.name)) takes input \(spec.input) with \(spec.classes) classes, "
                + "but the data are \(train.sampleShape) with \(train.classes) classes")
        }
        // Mutual learning: every peer sees the same batch (shared order); co-distillation:
        // each group its own order, as independent data-parallel jobs would.
        let orderSeed = method == .mutualLearning ? options.seed : options.seed &+ UInt64(groups.index) &* 1_000_003
        sampler = try BatchSampler(samples: train.count, batchSize: options.batchSize, rank: groups.position,
                                   ranks: groups.size, seed: orderSeed)
        totalSteps = options.epochs * sampler.batchesPerEpoch
        builder = BatchBuilder(cropPadding: options.augment ? 2 : 0, flip: options.augment)
        replica = try Replica(spec: group.models[groups.index], options: options,
                              seed: options.seed &+ UInt64(groups.index) &* 7919, totalSteps: totalSteps, rank: world.rank)
        registeredGradients = try registerGradients(replica.model.store, groups.group)
        if method == .codistillation && group.exchange == "weights" {
            teachers = try (0..<peers).filter { $0 != groups.index }.map {
                try Replica(spec: group.models[$0], options: options, seed: 0, totalSteps: totalSteps, rank: world.rank)
            }
        }
    }

    /// This rank's group, its position in it, and the group's name for messages.
    public var groupIndex: Int { groups.index }
    public var groupPosition: Int { groups.position }
    /// This rank's copy of its group's model weights.
    public var parameters: [Float] { replica.model.store.parameterArray() }

    public func run() throws -> TrainingResult {
        let start = Date()
        try replica.synchronize(group: groups.group)
        var step = 0, trainedSamples = 0, trainSeconds = 0.0, lastLoss = 0.0
        for epoch in 0..<options.epochs {
            let order = sampler.permutation(epoch: epoch)
            let epochStart = Date()
            var lossSum = 0.0, lossCount = 0
            for batch in 0..<sampler.batchesPerEpoch {
                if let stop = options.stopAfterSteps, step >= stop { break }
                let t0 = Date()
                let indices = sampler.batch(batch, of: order)
                var random = SeededRandom(seed: options.seed)
                    .derived(UInt64(epoch) << 40 | UInt64(groups.position) << 24 | UInt64(batch))
                let (x, labels) = builder.make(train, indices, random: &random)
                let loss: Double
                switch method {
                case .mutualLearning: loss = try mutualLearningStep(x, labels, epoch: epoch, step: step)
                case .codistillation: loss = try codistillationStep(x, labels, epoch: epoch, step: step)
                }
                trainSeconds += Date().timeIntervalSince(t0)
                trainedSamples += indices.count * world.size
                lossSum += loss
                lossCount += 1
                lastLoss = lossSum / Double(lossCount)
                step += 1
                progress.step(epoch: epoch, of: options.epochs, batch: batch + 1, of: sampler.batchesPerEpoch,
                              loss: lastLoss, samplesPerSecond: Double(trainedSamples) / max(trainSeconds, 1e-9))
            }
            try saveCheckpoint(epoch: epoch + 1, step: step)
            progress.epochDone(epoch: epoch + 1, of: options.epochs, loss: lastLoss,
                               seconds: Date().timeIntervalSince(epochStart))
        }
        let evaluation = try PeerEvaluation.run(replica, test: test, groups: groups)
        var totals = [Double(replica.bytesInGroup), Double(bytesAcross), trainSeconds, replica.secondsInGroup + secondsAcross]
        try world.allreduce(&totals, op: .sum, algorithm: .mpi)
        var slowest = [trainSeconds]
        try world.allreduce(&slowest, op: .max, algorithm: .mpi)
        let mine = groups.index
        return TrainingResult(
            test_accuracy: evaluation.peerAccuracies[mine], test_loss: evaluation.peerLosses[mine], train_loss: lastLoss,
            epochs: options.epochs, samples_per_s: Double(trainedSamples) / max(slowest[0], 1e-9),
            comm_bytes: Int(totals[0] + totals[1]) / world.size, comm_time_s: totals[3] / Double(world.size),
            wall_s: Date().timeIntervalSince(start), ranks: world.size, parameters: replica.model.parameterCount,
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

    /// Rank 0 of each group writes its model (atomically) to DIR/peer-G.weft.
    private func saveCheckpoint(epoch: Int, step: Int) throws {
        guard let dir = options.checkpointDirectory else { return }
        try replica.synchronizeStatistics(group: groups.group)
        guard groups.position == 0 else { return }
        let checkpoint = Checkpoint(signature: replica.model.signature, epoch: epoch, batchInEpoch: 0, step: step,
                                    parameters: Array(replica.model.store.values), state: Array(replica.model.store.state),
                                    optimizer: replica.optimizer.state, randomStates: [UInt64(groups.size)])
        try checkpoint.write(to: "\(dir)/peer-\(groups.index).weft")
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
