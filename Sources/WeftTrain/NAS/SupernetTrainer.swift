import Foundation
import Weft
import WeftNN

/// Trains a weight-sharing supernet across ranks. Every rank draws its own paths each step
/// from a seeded stream (so ranks train different architectures at once):
///
/// - `uniform` (SPOS, Guo et al. 2020): one uniformly sampled path per step.
/// - `sandwich` (BigNAS, Yu et al. 2020): the largest, the smallest and two random paths per
///   step; the largest learns from the labels, the others from its predictions (in-place
///   distillation).
/// - `fair` (FairNAS, Chu et al. 2021): M paths per step, M the most candidates of any
///   block, built from a random permutation of every block's candidates, so each candidate
///   is trained exactly once per step (blocks with fewer candidates repeat some).
///
/// Random paths are drawn per rank either independently or, by default, `balanced` so that
/// the ranks' paths of a step cost about the same (`PathBalancer`; each rank's own
/// distribution is unchanged).
///
/// Gradients are summed across ranks and each candidate's are divided by the number of
/// ranks whose paths touched it; parameters nobody touched — and their optimizer state —
/// are left as they were (masked update).
public final class SupernetTrainer {
    public enum Sampling: String, CaseIterable, Sendable { case uniform, sandwich, fair }
    /// How the ranks' random paths of one step relate.
    public enum RankPaths: String, CaseIterable, Sendable { case balanced, independent }

    let space: SearchSpace
    let supernet: Supernet
    let options: TrainingOptions
    let sampling: Sampling
    let rankPaths: RankPaths
    /// Set when paths are balanced across ranks (costs measured on rank 0).
    private var balancer: PathBalancer?
    let world: Communicator
    let loop: TrainingLoop
    private var commBytes = 0
    private var pathCount = 0
    private var allreduceSeconds = 0.0
    /// How often each (block, candidate) was trained on this rank.
    private(set) var candidateSteps: [Int]
    private var countedEarlierSteps = false

    /// Training images the supernet uses; the rest of the training set is the search's
    /// validation split.
    public static let trainingImages = 55_000

    /// `pathCosts`: the file of candidate costs for balanced paths (read if present, else
    /// measured and written; default `path-costs.json` in the checkpoint directory).
    public init(space: SearchSpace, options: TrainingOptions, sampling: Sampling, rankPaths: RankPaths = .balanced,
                pathCosts: String? = nil, world: Communicator, progress: ProgressReporter) throws {
        self.space = space
        self.options = options
        self.sampling = sampling
        self.rankPaths = rankPaths
        self.world = world
        retainFreedMemory()
        supernet = try Supernet(space: space, seed: options.seed)
        let train = try FashionMNIST.load(train: true, directory: options.dataDirectory)
            .prefix(min(options.trainLimit ?? SupernetTrainer.trainingImages, SupernetTrainer.trainingImages))
        let sampler = try BatchSampler(samples: train.count, batchSize: options.batchSize, rank: world.rank,
                                       ranks: world.size, seed: options.seed)
        let replica = try Replica(model: supernet.model, options: options, totalSteps: options.epochs * sampler.batchesPerEpoch)
        candidateSteps = Array(repeating: 0, count: space.choiceCounts.reduce(0, +))
        // The supernet's checkpoint is the file the search reads: written at each epoch end
        // (and every --checkpoint-every steps), resumed by --resume like dp's.
        loop = try TrainingLoop(replica: replica, options: options, train: train, sampler: sampler, group: world,
                                world: world, progress: progress,
                                checkpointPath: options.checkpointDirectory.map { "\($0)/supernet.weft" },
                                methodSettings: [TrainingOptions.methodKey: "nas supernet", "--sampling": sampling.rawValue,
                                                 "--rank-paths": rankPaths.rawValue])
        if rankPaths == .balanced && sampling != .fair && world.size > 1 {
            // Every rank needs the same cycles: rank 0's file or measurement decides.
            let kept = options.checkpointDirectory.map { ($0 as NSString).appendingPathComponent("path-costs.json") }
            let file = pathCosts ?? kept
            var costs = [Double](repeating: 0, count: space.choiceCounts.reduce(0, +))
            var failure: Error?
            if world.rank == 0 {
                do {
                    let loaded = try PathCosts.loadOrMeasure(file, space: space, supernet: supernet)
                    // Costs from another file are copied beside the checkpoint, so a resume
                    // without --path-costs reads them there and keeps these paths.
                    if let kept, kept != file { try writeJSONAtomically(loaded, to: kept) }
                    costs = loaded.blocks.flatMap { $0 }
                } catch {
                    failure = error
                }
            }
            var ok = [failure == nil ? 1.0 : 0.0]
            try world.broadcast(&ok, root: 0)
            if let failure { throw failure }
            guard ok[0] == 1 else { throw TrainingError("rank 0 could not read the path costs") }
            try world.broadcast(&costs, root: 0)
            var next = costs[...]
            balancer = PathBalancer(costs: space.choiceCounts.map { k in
                defer { next = next.dropFirst(k) }
                return Array(next.prefix(k))
            })
        }
    }

    /// This step's paths on this rank.
    func paths(step: Int) -> [SearchSpace.Architecture] {
        var random = SeededRandom(seed: options.seed).derived(UInt64(step) << 20 | UInt64(world.rank))
        // The stream every rank draws alike (rank numbers stay below 2^20 − 1).
        var shared = SeededRandom(seed: options.seed).derived(UInt64(step) << 20 | 0xFFFFF)
        let counts = space.choiceCounts
        func uniform() -> SearchSpace.Architecture {
            if let balancer { return balancer.path(rank: world.rank, shared: &shared) }
            return counts.map { Int(random.next() % UInt64($0)) }
        }
        switch sampling {
        case .uniform:
            return [uniform()]
        case .sandwich:
            return [space.largest, space.smallest, uniform(), uniform()]
        case .fair:
            let m = counts.max() ?? 1
            let orders: [[Int]] = counts.map { k in
                var order: [Int] = []
                while order.count < m {
                    var p = Array(0..<k)
                    for i in stride(from: k - 1, to: 0, by: -1) { p.swapAt(i, Int(random.next() % UInt64(i + 1))) }
                    order += p
                }
                return Array(order.prefix(m))
            }
            return (0..<m).map { j in orders.map { $0[j] } }
        }
    }

    public struct Result: Encodable {
        public var method = "nas-supernet"
        public var sampling: String
        public var rank_paths: String
        public var epochs: Int
        public var ranks: Int
        public var samples_per_s: Double
        public var paths_per_s: Double
        public var train_loss: Double
        public var supernet_parameters: Int
        public var comm_bytes: Int
        /// Seconds this rank spent in the gradient allreduce, mostly waiting for a rank whose
        /// path cost more: the price of every rank training its own architecture.
        public var allreduce_s: Double
        public var candidate_steps_min: Int
        public var candidate_steps_max: Int
        public var checkpoint: String?
        public var wall_s: Double
    }

    public func run() throws -> Result {
        let start = Date()
        let summary = try loop.run(trainStep)
        countEarlierSteps(before: summary.steps)   // a finished checkpoint resumed trains no step
        let model = supernet.model
        let path = loop.checkpointPath
        // Batch-norm statistics differ per rank (each saw its own paths): average them. With
        // a checkpoint the loop's last save already did, and wrote them.
        if world.size > 1 && path == nil { try world.allreduce(model.store.state, op: .avg, algorithm: .mpi) }
        var slowest = [summary.seconds]
        try world.allreduce(&slowest, op: .max, algorithm: .mpi)
        var counts = candidateSteps.map(Double.init)
        try world.allreduce(&counts, op: .sum, algorithm: .mpi)
        return Result(sampling: sampling.rawValue, rank_paths: balancer == nil ? "independent" : "balanced",
                      epochs: summary.epochs, ranks: world.size,
                      samples_per_s: Double(summary.samples) / max(slowest[0], 1e-9),
                      paths_per_s: Double(pathCount * world.size) / max(slowest[0], 1e-9), train_loss: summary.loss,
                      supernet_parameters: model.parameterCount, comm_bytes: commBytes, allreduce_s: allreduceSeconds,
                      candidate_steps_min: Int(counts.min() ?? 0), candidate_steps_max: Int(counts.max() ?? 0),
                      checkpoint: path, wall_s: Date().timeIntervalSince(start))
    }

    /// Once per run: counts the candidates of the steps a resumed run did not train (paths
    /// are a function of step and rank), so its totals match an uninterrupted run's.
    private func countEarlierSteps(before end: Int) {
        guard !countedEarlierSteps else { return }
        countedEarlierSteps = true
        for step in 0..<end {
            for path in paths(step: step) {
                for (k, u) in supernet.usage(path).enumerated() where u > 0 { candidateSteps[k] += 1 }
            }
        }
    }

    /// One step: this rank's paths on the batch, gradients summed over ranks and averaged
    /// per candidate over the ranks that used it, a masked update; returns the mean path loss.
    private func trainStep(_ batch: TrainingLoop.Batch) throws -> Double {
        let model = supernet.model
        countEarlierSteps(before: batch.step)
        model.store.zeroGradients()
        let paths = self.paths(step: batch.step)
        var used = [Float](repeating: 0, count: candidateSteps.count)
        var teacher: [Float]?
        var loss: Float = 0
        for path in paths {
            supernet.select(path)
            let logits = model.forward(batch.x, training: true)
            let gradient: Tensor
            if sampling == .sandwich, let teacher {
                var g = Tensor(zeros: logits.shape)
                loss += addDistillation(student: logits, teacherProbabilities: teacher, temperature: 1, weight: 1, into: &g)
                gradient = g
            } else {
                let (l, g) = CrossEntropy.lossAndGradient(logits: logits, labels: batch.labels)
                loss += l
                gradient = g
                if sampling == .sandwich { teacher = softmax(logits) }
            }
            model.backward(gradient)
            for (k, u) in supernet.usage(path).enumerated() where u > 0 {
                used[k] = 1
                candidateSteps[k] += 1
            }
        }
        pathCount += paths.count
        // Sum gradients and usage over ranks; average each candidate over its users.
        var status = used + [loss.isFinite ? 0 : 1]
        if world.size > 1 {
            let reduceStart = Date()
            defer { allreduceSeconds += Date().timeIntervalSince(reduceStart) }
            try world.allreduce(model.store.gradients, op: .sum)
            try world.allreduce(&status, op: .sum, algorithm: .mpi)
            commBytes += (model.store.gradients.count + status.count) * 4
        }
        if status.last! > 0 {
            throw TrainingError("supernet loss became NaN or infinite at epoch \(batch.epoch + 1), step \(batch.step + 1); lower --lr")
        }
        let mask = supernet.averageTouched(gradients: model.store.gradients, counts: Array(status.dropLast()),
                                           ranks: world.size)
        loop.replica.applyGradients(step: batch.step, mask: mask)
        return Double(loss) / Double(paths.count)
    }
}

extension Supernet {
    /// Loads a supernet checkpoint written by `SupernetTrainer` for the same space; returns a
    /// note when the run that writes it has not finished (it checkpoints as it goes, so a
    /// killed or running one leaves a valid but partly trained file).
    func load(_ path: String) throws -> String? {
        let checkpoint = try Checkpoint.read(from: path)
        guard checkpoint.signature == model.signature, checkpoint.parameters.count == model.parameterCount,
              checkpoint.state.count == model.store.stateCount
        else {
            throw TrainingError("supernet checkpoint \(path) was trained on another search space; "
                + "it was not loaded (train it with: weft train nas supernet --space … --checkpoint DIR)")
        }
        _ = model.store.values.update(fromContentsOf: checkpoint.parameters)
        _ = model.store.state.update(fromContentsOf: checkpoint.state)
        // A damaged record says nothing about the run's length: no note.
        guard let recorded = (try? TrainingOptions.recordedSettings(in: (path as NSString).deletingLastPathComponent)) ?? nil,
              let epochs = recorded["--epochs"].flatMap(Int.init), checkpoint.epoch < epochs
        else { return nil }
        return "\(path) has trained \(checkpoint.epoch) of \(epochs) epochs (step \(checkpoint.step)): its training has not "
            + "finished (continue it with weft train nas supernet … --resume); searching with it as it is"
    }
}
