import ArgumentParser
import Foundation
import Weft
import WeftNN
import WeftTrain

/// `weft train nas`: weight-sharing supernet search across ranks.
extension Train {
    struct NAS: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "nas",
            abstract: "One-shot architecture search: train a supernet, search it, check its ranking.",
            subcommands: [SupernetCommand.self, SearchCommand.self, RankCheckCommand.self]
        )
    }
}

/// Loads a search space or ends the job with its one-line error.
func loadSpace(_ path: String) -> SearchSpace {
    let space: SearchSpace
    do {
        space = try SearchSpace.load(path)
    } catch {
        failEverywhere("\(error)")
    }
    // Every NAS job trains on Fashion-MNIST: a space for other images or classes would
    // fail deep inside training (a label past the logits, a shape that never fits).
    if space.classes != 10 {
        failEverywhere("search space \(path): 'classes' is \(space.classes), but Fashion-MNIST has 10 classes")
    }
    if space.input != [1, 28, 28] {
        failEverywhere("search space \(path): 'input' is \(space.input), but Fashion-MNIST images are [1, 28, 28]")
    }
    return space
}

/// Ends the job with one line when `--calibration-batches` asks for more batches than the
/// supernet's training images hold (they are drawn from those, never repeated).
func checkCalibrationBatches(_ batches: Int) {
    let most = SearchJobs.calibrationBatchesAvailable
    guard (0...most).contains(batches) else {
        failEverywhere("--calibration-batches must be 0…\(most) (the \(SupernetTrainer.trainingImages) supernet training "
            + "images hold \(most) batches of \(SearchJobs.calibrationBatchSize)), got \(batches)")
    }
}

extension Train.NAS {
    struct SupernetCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "supernet",
            abstract: "Train the supernet of a search space; every rank samples its own paths.",
            discussion: "Writes DIR/supernet.weft with --checkpoint DIR at each epoch end (and every --checkpoint-every steps); --resume continues from it. Uses the first 55,000 training images; the rest are the search's validation split."
        )
        @OptionGroup var arguments: TrainingArguments
        @Option(help: "Search space file (JSON).") var space: String
        @Option(help: "uniform (SPOS), sandwich (BigNAS) or fair (FairNAS).") var sampling = "uniform"
        @Option(help: ArgumentHelp(
            "balanced or independent: how the ranks' random paths of a step relate.",
            discussion: "balanced (default) gives the ranks paths of similar measured cost, so no rank waits long for another; each rank still samples every path as often as independent draws would."))
        var rankPaths = "balanced"
        @Option(help: ArgumentHelp(
            "Candidate costs for balanced paths: read if the file exists, else measured and written.",
            discussion: "Default: DIR/path-costs.json with --checkpoint DIR (a FILE given is copied there), so a resumed run keeps its paths. Measured costs vary a little between runs; pass the same file to repeat a run exactly.",
            valueName: "file"))
        var pathCosts: String?

        func run() throws {
            let space = loadSpace(self.space)
            if let pathCosts { checkOutputPath(pathCosts, option: "--path-costs", .file, createsFolders: true) }
            guard let mode = SupernetTrainer.Sampling(rawValue: sampling) else {
                failEverywhere("unknown --sampling '\(sampling)' (choose from uniform, sandwich, fair)")
            }
            guard let pairing = SupernetTrainer.RankPaths(rawValue: rankPaths) else {
                failEverywhere("unknown --rank-paths '\(rankPaths)' (choose from balanced, independent)")
            }
            let options = try arguments.options()
            runTrainingJob(arguments) { world in
                try SupernetTrainer(space: space, options: options, sampling: mode, rankPaths: pairing,
                                    pathCosts: pathCosts, world: world,
                                    progress: ProgressReporter(rank: world.rank)).run()
            }
        }
    }

    struct SearchCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "search",
            abstract: "Evolutionary search over a trained supernet, under constraints.",
            discussion: """
                Writes to --output: pareto.json, history.json, best.json (a model spec for weft train dp --model), \
                pareto-*.svg, and latency.json (per-op latencies measured on this machine) unless --latency-table names one.
                """
        )
        @OptionGroup var arguments: TrainingArguments
        @Option(help: "Search space file (JSON).") var space: String
        @Option(help: "Supernet checkpoint (DIR/supernet.weft from weft train nas supernet).") var supernet: String
        @Option(name: .shortAndLong, help: "Output folder.") var output = "nas-out"
        @Option(help: "Per-op latency table (measured and written here if missing).") var latencyTable: String?
        @Option(parsing: .unconditional, help: "Architectures in the population.") var population = 24
        @Option(parsing: .unconditional, help: "Evolution cycles (each makes one child per rank).") var cycles = 20
        @Option(parsing: .unconditional, help: "Tournament size (default: 6, or the population if smaller).")
        var tournament: Int?
        @Option(parsing: .unconditional, help: "Choices changed per mutation.") var mutations = 1
        @Option(parsing: .unconditional, help: "Probability of a crossover before mutating.") var crossover = 0.25
        @Option(parsing: .unconditional, help: "Batches of 128 training images for batch-norm recalibration.") var calibrationBatches = 8
        @Option(parsing: .unconditional, help: "Held-out training images scored (after the 55,000 the supernet saw).") var validationImages = 2000
        @Option(parsing: .unconditional, help: "Most parameters allowed.") var maxParams: Int?
        @Option(parsing: .unconditional, help: "Most FLOPs (multiply-accumulates per image) allowed.") var maxFlops: Int?
        @Option(parsing: .unconditional, help: "Most inference latency (ms per image on this machine) allowed.") var maxLatencyMs: Double?
        @Option(parsing: .unconditional, help: "Most simulated gradient allreduce time per step (µs) on --topology with --ranks.") var maxCommUs: Double?
        @Option(parsing: .unconditional, help: "Ranks of the data-parallel training the comm cost is for (default: every endpoint).") var ranks: Int?

        func run() throws {
            _ = loadSpace(space)
            let tournament = self.tournament ?? min(6, population)
            guard population >= 2, cycles >= 0, tournament >= 1, mutations >= 1, (0...1).contains(crossover) else {
                failEverywhere("--population must be ≥ 2, --tournament and --mutations ≥ 1, --crossover in 0…1")
            }
            guard tournament <= population else {
                failEverywhere("--tournament \(tournament) is larger than --population \(population); use 1…\(population)")
            }
            guard validationImages >= 1, calibrationBatches >= 0 else {
                failEverywhere("--validation-images must be at least 1 and --calibration-batches 0 or more, got \(validationImages) and \(calibrationBatches)")
            }
            checkCalibrationBatches(calibrationBatches)
            for (name, value) in [("--max-latency-ms", maxLatencyMs), ("--max-comm-us", maxCommUs)] {
                if let value, !(value.isFinite && value > 0) { failEverywhere("\(name) must be a positive number, got \(value)") }
            }
            for (name, value) in [("--max-params", maxParams), ("--max-flops", maxFlops), ("--ranks", ranks)] {
                if let value, value < 1 { failEverywhere("\(name) must be at least 1, got \(value)") }
            }
            if maxCommUs != nil && arguments.topology == nil {
                failEverywhere("--max-comm-us needs --topology FILE (and --ranks N): the network the allreduce runs on")
            }
            if let latencyTable { checkOutputPath(latencyTable, option: "--latency-table", .file, createsFolders: true) }
            checkOutputPath(output, option: "--output", .folder)
            var s = SearchJobs.SearchSettings()
            s.space = space
            s.supernet = supernet
            s.output = output
            s.latencyTable = latencyTable
            s.topology = arguments.topology
            s.topologyRanks = ranks
            s.calibrationBatches = calibrationBatches
            s.validationImages = validationImages
            s.constraints.maxParameters = maxParams
            s.constraints.maxFlops = maxFlops
            s.constraints.maxLatency = maxLatencyMs
            s.constraints.maxComm = maxCommUs
            s.evolution.population = population
            s.evolution.cycles = cycles
            s.evolution.tournament = self.tournament ?? min(6, population)
            s.evolution.mutations = mutations
            s.evolution.crossover = crossover
            s.evolution.seed = arguments.seed
            s.dataDirectory = arguments.data
            // The communicator must not load the topology as its own network: it is the
            // user's cluster, not where this search runs.
            var local = arguments
            local.topology = nil
            runTrainingJob(local) { world in
                try SearchJobs.search(s, world: world, progress: ProgressReporter(rank: world.rank))
            }
        }
    }

    struct RankCheckCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rank-check",
            abstract: "Kendall's tau between inherited and stand-alone accuracy of sampled architectures.",
            discussion: "Stand-alone training uses the training options (--epochs, --train-limit, --lr, …), one architecture per rank at a time."
        )
        @OptionGroup var arguments: TrainingArguments
        @Option(help: "Search space file (JSON).") var space: String
        @Option(help: "Supernet checkpoint.") var supernet: String
        @Option(parsing: .unconditional, help: "Architectures to sample and train (at least 10 for a meaningful tau).") var architectures = 10
        @Option(help: "uniform (random architectures) or spread (evenly over the space's range of sizes).")
        var sample = "uniform"
        @Option(parsing: .unconditional, help: "Stand-alone runs per architecture, from seeds --seed, --seed+1, …; accuracies are averaged.")
        var seeds = 1
        @Option(help: ArgumentHelp("Take the stand-alone accuracies from an earlier rank-check's output (same --space, --architectures, --sample and --seed) instead of training: compares another supernet with the same ground truth.", valueName: "file"))
        var standalone: String?
        @Option(parsing: .unconditional, help: "Batches of 128 training images for batch-norm recalibration.") var calibrationBatches = 8
        @Option(help: "Per-op latency table (measured and written here if missing).") var latencyTable = "nas-latency.json"

        func run() throws {
            _ = loadSpace(space)
            checkOutputPath(latencyTable, option: "--latency-table", .file, createsFolders: true)
            checkCalibrationBatches(calibrationBatches)
            guard architectures >= 2 else { failEverywhere("--architectures must be at least 2, got \(architectures)") }
            guard seeds >= 1 else { failEverywhere("--seeds must be at least 1, got \(seeds)") }
            guard standalone == nil || seeds == 1 else {
                failEverywhere("--seeds and --standalone together: the earlier run's stand-alone seeds are used; drop --seeds")
            }
            let reference: SearchJobs.StandaloneReference?
            do { reference = try standalone.map(SearchJobs.StandaloneReference.load) } catch { failEverywhere("\(error)") }
            guard let sampling = SearchJobs.RankCheckSample(rawValue: sample) else {
                failEverywhere("unknown --sample '\(sample)' (choose from uniform, spread)")
            }
            let options = try arguments.options()
            runTrainingJob(arguments) { world in
                try SearchJobs.rankCheck(space: space, supernet: supernet, count: architectures, sample: sampling,
                                         seeds: seeds, standalone: reference, options: options,
                                         calibrationBatches: calibrationBatches, latencyTable: latencyTable, world: world)
            }
        }
    }
}
