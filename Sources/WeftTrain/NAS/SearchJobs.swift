import Foundation
import Weft
import WeftNN
import WeftTopology

/// `weft train nas search` and `weft train nas rank-check`: loading a trained supernet,
/// the scorer's data, and writing what they find.
public enum SearchJobs {
    /// Batch-norm recalibration draws batches of this size from the supernet's training
    /// images, at most as many as those hold.
    public static let calibrationBatchSize = 128
    public static var calibrationBatchesAvailable: Int {
        (SupernetTrainer.trainingImages + calibrationBatchSize - 1) / calibrationBatchSize
    }

    public struct SearchSettings {
        public var space: String = ""
        public var supernet: String = ""
        public var output: String = "nas-out"
        public var latencyTable: String?
        public var topology: String?
        public var topologyRanks: Int?
        public var calibrationBatches = 8
        public var validationImages = 2000
        public var constraints = SearchConstraints()
        public var evolution = EvolutionarySearch()
        public var dataDirectory = FashionMNIST.defaultDirectory

        public init() {}
    }

    public struct SearchSummary: Encodable {
        public var method = "nas-search"
        public var best: ArchitectureScore
        public var random_best: ArchitectureScore
        public var scored: Int
        public var pareto: Int
        public var model_spec: String
        public var outputs: [String]
        public var wall_s: Double
    }

    /// Loads the space and supernet and prepares the scorer (latency table measured by
    /// rank 0 alone, so ranks do not disturb each other's timings).
    static func scorer(space: SearchSpace, supernetPath: String, latencyPath: String, topology: String?,
                       topologyRanks: Int?, calibrationBatches: Int, validation: (Dataset, [Int]),
                       dataDirectory: String, seed: UInt64, world: Communicator) throws -> ArchitectureScorer {
        let supernet = try Supernet(space: space, seed: 1)
        if let note = try supernet.load(supernetPath), world.rank == 0 {
            FileHandle.standardError.write(Data("weft: note: \(note)\n".utf8))
        }
        if world.rank == 0 { _ = try LatencyTable.loadOrMeasure(latencyPath, space: space) }
        try world.barrier(algorithm: .mpi)
        let latency = try LatencyTable.loadOrMeasure(latencyPath, space: space)
        var forecast: CommunicationForecast?
        if let topology {
            let descriptor = try Descriptor.load(topology)
            let network = try descriptor.build()
            forecast = try CommunicationForecast(network: network, descriptor: descriptor,
                                                 ranks: topologyRanks ?? network.endpoints)
        }
        let train = try supernetImages(dataDirectory)
        let sampler = try BatchSampler(samples: SupernetTrainer.trainingImages, batchSize: calibrationBatchSize, rank: 0,
                                       ranks: 1, seed: seed &+ 0xCA1)
        guard (0...sampler.batchesPerEpoch).contains(calibrationBatches) else {
            throw TrainingError("--calibration-batches must be 0…\(sampler.batchesPerEpoch), got \(calibrationBatches)")
        }
        let order = sampler.permutation(epoch: 0)
        var random = SeededRandom(seed: seed)
        let calibration = (0..<calibrationBatches).map { BatchBuilder().make(train, sampler.batch($0, of: order), random: &random).0 }
        return ArchitectureScorer(space: space, supernet: supernet, latency: latency, forecast: forecast,
                                  calibration: calibration, validation: validation.0, validationIndices: validation.1)
    }

    /// The training images of `directory`: the supernet trained on the first
    /// `SupernetTrainer.trainingImages`, recalibration draws from those and the search scores
    /// on the ones after, so a smaller set is refused (it indexed past its end).
    static func supernetImages(_ directory: String) throws -> Dataset {
        let train = try FashionMNIST.load(train: true, directory: directory)
        guard train.count > SupernetTrainer.trainingImages else {
            throw TrainingError("--data \(directory): its training set holds \(train.count) images; the search "
                + "recalibrates on the supernet's first \(SupernetTrainer.trainingImages) and scores on the ones after, "
                + "so it needs more (Fashion-MNIST has 60000)")
        }
        return train
    }

    public static func search(_ s: SearchSettings, world: Communicator, progress: ProgressReporter) throws -> SearchSummary {
        let start = Date()
        let space = try SearchSpace.load(s.space)
        let train = try supernetImages(s.dataDirectory)
        let held = Array(SupernetTrainer.trainingImages..<min(train.count, SupernetTrainer.trainingImages + s.validationImages))
        let scorer = try scorer(space: space, supernetPath: s.supernet,
                                latencyPath: s.latencyTable ?? "\(s.output)/latency.json", topology: s.topology,
                                topologyRanks: s.topologyRanks, calibrationBatches: s.calibrationBatches,
                                validation: (train, held), dataDirectory: s.dataDirectory, seed: s.evolution.seed,
                                world: world)
        try scorer.checkAchievable(s.constraints)
        let outcome = try s.evolution.run(space: space, scorer: scorer, constraints: s.constraints, world: world,
                                          progress: progress)
        let front = EvolutionarySearch.paretoFront(outcome.history)
        var outputs: [String] = []
        let specPath = "\(s.output)/best.json"
        if world.rank == 0 {
            func write(_ name: String, _ text: String) throws {
                let path = "\(s.output)/\(name)"
                try writeAtomically(Data(text.utf8), to: path)
                outputs.append(path)
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try write("pareto.json", String(decoding: try encoder.encode(front), as: UTF8.self) + "\n")
            try write("history.json", String(decoding: try encoder.encode(outcome.history), as: UTF8.self) + "\n")
            try write("best.json", try space.standaloneJSON(outcome.best.architecture, name: "nas-best") + "\n")
            var plots: [(String, String, (ArchitectureScore) -> Double?)] = [
                ("pareto-parameters.svg", "parameters", { Double($0.parameters) }),
                ("pareto-latency.svg", "latency (ms, 1 image, this machine)", { $0.latency_ms }),
                ("pareto-flops.svg", "FLOPs (multiply-accumulates)", { Double($0.flops) }),
            ]
            if s.topology != nil {
                plots.append(("pareto-comm.svg", "gradient allreduce per step (µs, simulated)", { $0.comm_us }))
            }
            for (file, label, metric) in plots {
                // The front for this one cost: best accuracy at or below each cost.
                let sorted = outcome.history.sorted { metric($0)! < metric($1)! }
                var curve: [(Double, Double)] = [], bestSoFar = -1.0
                for p in sorted where p.accuracy > bestSoFar {
                    bestSoFar = p.accuracy
                    curve.append((metric(p)!, p.accuracy))
                }
                let plot = ScatterPlot(title: "Search on \(space.name): validation accuracy vs \(label.components(separatedBy: " (")[0])",
                                       xLabel: label, points: outcome.history.map { (metric($0)!, $0.accuracy) },
                                       front: curve)
                try write(file, plot.svg())
            }
        }
        return SearchSummary(best: outcome.best, random_best: outcome.randomBest, scored: outcome.history.count,
                             pareto: front.count, model_spec: specPath, outputs: outputs,
                             wall_s: Date().timeIntervalSince(start))
    }

    /// How rank-check picks its architectures.
    public enum RankCheckSample: String, CaseIterable, Sendable {
        /// Uniformly at random, as the supernet samples them.
        case uniform
        /// Spread over the space's range of sizes: evenly spaced quantiles of the parameter
        /// counts of 400 random architectures. Nets that differ by more than their seed
        /// noise make the rank correlation a statement about the supernet, not about noise.
        case spread
    }

    public struct RankCheckSummary: Encodable {
        public var method = "nas-rank-check"
        public var sample: String
        public var architectures: [String]
        public var parameters: [Int]
        public var inherited_accuracy: [Double]
        /// Mean over the seeds of `standalone_runs`.
        public var standalone_accuracy: [Double]
        /// Per architecture, the test accuracy of each stand-alone run (one per seed).
        public var standalone_runs: [[Double]]
        public var kendall_tau: Double
        /// 90 % bootstrap interval of `kendall_tau` over the architectures.
        public var kendall_tau_interval: [Double]
        /// Kendall's tau between parameter count and stand-alone accuracy: how well size
        /// alone ranks the same architectures — the bar the supernet should clear.
        public var parameters_tau: Double
        /// With two or more seeds, Kendall's tau between the first two seeds' stand-alone
        /// accuracies: how reproducible the stand-alone ranking itself is.
        public var seed_tau: Double?
        public var epochs: Int
        public var train_limit: Int?
        /// Test images every accuracy above is measured on.
        public var test_images: Int
        public var wall_s: Double
    }

    /// The stand-alone side of an earlier rank check, reused to compare another supernet
    /// with the same ground truth (the stand-alone training is the expensive part).
    public struct StandaloneReference: Decodable {
        public var architectures: [String]
        public var standalone_accuracy: [Double]
        /// Absent in results written before `--seeds`: one run per architecture then.
        public var standalone_runs: [[Double]]?
        public var epochs: Int
        public var train_limit: Int?
        /// Absent in results written before `--test-limit`: all 10,000 then.
        public var test_images: Int?

        /// Reads the last JSON line of a rank-check output file.
        public static func load(_ path: String) throws -> StandaloneReference {
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw TrainingError("--standalone \(path): cannot read the file; pass the output of an earlier 'weft train nas rank-check'")
            }
            let line = text.split(separator: "\n").last { !$0.allSatisfy(\.isWhitespace) } ?? ""
            let reference: StandaloneReference
            do {
                reference = try JSONDecoder().decode(StandaloneReference.self, from: Data(line.utf8))
            } catch {
                throw TrainingError("--standalone \(path): not a rank-check result (its last line must be the JSON that 'weft train nas rank-check' prints)")
            }
            guard reference.architectures.count == reference.standalone_accuracy.count,
                  reference.standalone_runs.map({ $0.count == reference.architectures.count && $0.allSatisfy { !$0.isEmpty } }) ?? true
            else { throw TrainingError("--standalone \(path): its architectures and accuracies differ in number") }
            return reference
        }

        var runs: [[Double]] { standalone_runs ?? standalone_accuracy.map { [$0] } }
    }

    /// Trains `count` sampled architectures stand-alone (each on one rank, short schedule,
    /// `seeds` times from seeds `options.seed`, +1, …) — or takes their accuracies from an
    /// earlier rank check — and compares their mean test accuracy with the supernet's
    /// inherited one.
    public static func rankCheck(space path: String, supernet: String, count: Int, sample: RankCheckSample = .uniform,
                                 seeds: Int = 1, standalone reference: StandaloneReference? = nil,
                                 options: TrainingOptions, calibrationBatches: Int, latencyTable: String,
                                 world: Communicator)
        throws -> RankCheckSummary
    {
        let start = Date()
        let space = try SearchSpace.load(path)
        let test = try options.testSet()
        let scorer = try scorer(space: space, supernetPath: supernet, latencyPath: latencyTable, topology: nil,
                                topologyRanks: nil, calibrationBatches: calibrationBatches,
                                validation: (test, Array(0..<test.count)), dataDirectory: options.dataDirectory,
                                seed: options.seed, world: world)
        let architectures = try pickArchitectures(space, count: count, sample: sample, scorer: scorer, seed: options.seed)
        if let reference, reference.architectures != architectures.map(space.describe) {
            throw TrainingError("--standalone: the earlier rank check trained other architectures than this one samples; "
                                + "use its --space, --architectures, --sample and --seed")
        }
        if let images = reference.map({ $0.test_images ?? 10000 }), images != test.count {
            throw TrainingError("--standalone: the earlier rank check scored \(images) test images, this one \(test.count); "
                                + "use its --test-limit")
        }
        let inherited = try EvolutionarySearch.scoreAll(architectures, scorer: scorer, world: world)
        let perArchitecture: [[Double]]
        var epochs = options.epochs, trainLimit = options.trainLimit
        if let reference {
            perArchitecture = reference.runs
            (epochs, trainLimit) = (reference.epochs, reference.train_limit)
        } else {
            perArchitecture = try trainStandalone(architectures, space: space, seeds: seeds, options: options, world: world)
        }
        let standalone = perArchitecture.map { $0.reduce(0, +) / Double($0.count) }
        let accuracy = inherited.map(\.accuracy)
        let interval = kendallTauInterval(accuracy, standalone)
        return RankCheckSummary(sample: sample.rawValue, architectures: inherited.map(\.description),
                                parameters: inherited.map(\.parameters), inherited_accuracy: accuracy,
                                standalone_accuracy: standalone, standalone_runs: perArchitecture,
                                kendall_tau: kendallTau(accuracy, standalone),
                                kendall_tau_interval: [interval.lowerBound, interval.upperBound],
                                parameters_tau: kendallTau(inherited.map { Double($0.parameters) }, standalone),
                                seed_tau: perArchitecture[0].count >= 2
                                    ? kendallTau(perArchitecture.map { $0[0] }, perArchitecture.map { $0[1] }) : nil,
                                epochs: epochs, train_limit: trainLimit, test_images: test.count, wall_s: Date().timeIntervalSince(start))
    }

    /// Test accuracies of each architecture trained alone `seeds` times, from seeds
    /// `options.seed`, +1, …: run j (architecture j / seeds, seed j % seeds) on rank j mod size.
    static func trainStandalone(_ architectures: [SearchSpace.Architecture], space: SearchSpace, seeds: Int,
                                options: TrainingOptions, world: Communicator) throws -> [[Double]] {
        guard let alone = try world.split(color: world.rank, key: 0) else { throw TrainingError("split failed") }
        let count = architectures.count
        var runs = [Double](repeating: 0, count: count * seeds)
        for j in runs.indices where j % world.size == world.rank {
            var o = options
            o.model = try space.standaloneSpec(architectures[j / seeds], name: "arch\(j / seeds)")
            o.seed = options.seed &+ UInt64(j % seeds)
            o.checkpointDirectory = nil
            o.resume = false
            let trainer = try DataParallelTrainer(options: o, communicator: alone, progress: ProgressReporter(rank: 1))
            runs[j] = try trainer.run().test_accuracy
        }
        if world.size > 1 { try world.allreduce(&runs, op: .sum, algorithm: .mpi) }
        return (0..<count).map { Array(runs[($0 * seeds)..<(($0 + 1) * seeds)]) }
    }

    /// `count` distinct architectures, the same on every rank (seeded).
    static func pickArchitectures(_ space: SearchSpace, count: Int, sample: RankCheckSample,
                                  scorer: ArchitectureScorer, seed: UInt64) throws -> [SearchSpace.Architecture] {
        let possible = space.choiceCounts.reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }
        guard count <= possible else {
            throw TrainingError("--architectures \(count) is more than the \(possible) architectures of the space")
        }
        var random = EvolutionarySearch.Random(state: SeededRandom(seed: seed &+ 0x7A4))
        var seen = Set<[Int]>(), drawn: [SearchSpace.Architecture] = []
        let wanted = sample == .uniform ? count : min(possible, max(count, 400))
        while drawn.count < wanted {
            let a = space.choiceCounts.map { random.below($0) }
            if seen.insert(a).inserted { drawn.append(a) }
        }
        guard sample == .spread else { return drawn }
        let sized = try drawn.map { (architecture: $0, parameters: try scorer.size($0).parameters) }
            .sorted { a, b in
                a.parameters != b.parameters ? a.parameters < b.parameters
                    : a.architecture.lexicographicallyPrecedes(b.architecture)
            }
        return (0..<count).map { i in sized[(2 * i + 1) * sized.count / (2 * count)].architecture }
    }
}
