import ArgumentParser
import Foundation
import Weft
import WeftNN
import WeftTopology
import WeftTrain

/// `weft train`: training jobs across ranks.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train on Fashion-MNIST across ranks.",
        subcommands: [DataParallel.self, MutualLearning.self, CoDistillation.self, NAS.self]
    )
}

/// Options every training job shares.
struct TrainingArguments: ParsableArguments {
    @Option(help: "mlp, cnn, or a model spec JSON file.")
    var model = "mlp"
    @Option(parsing: .unconditional) var epochs = 10
    @Option(parsing: .unconditional, help: "Samples per rank per step.")
    var batchSize = 128
    @Option(name: .customLong("lr"), parsing: .unconditional, help: "Base learning rate.")
    var learningRate: Float = 0.05
    @Option(parsing: .unconditional) var momentum: Float = 0.9
    @Flag var nesterov = false
    @Option(parsing: .unconditional) var weightDecay: Float = 5e-4
    @Option(help: "sgd or adamw.")
    var optimizer = "sgd"
    @Option(help: "constant, step (×0.1 at 1/3 and 2/3) or cosine.")
    var schedule = "cosine"
    @Option(parsing: .unconditional, help: "Linear warm-up steps before the schedule.")
    var warmup = 0
    @Option(parsing: .unconditional) var seed: UInt64 = 1
    @Option(parsing: .unconditional, help: "Use only the first N training images.")
    var trainLimit: Int?
    @Option(parsing: .unconditional, help: "Score only the first N test images (quick runs).")
    var testLimit: Int?
    @Option(help: "Folder with the Fashion-MNIST IDX files.")
    var data = FashionMNIST.defaultDirectory
    @Option(help: "Folder for checkpoints (written atomically at each epoch end).")
    var checkpoint: String?
    @Option(parsing: .unconditional, help: "Also checkpoint every N steps.")
    var checkpointEvery = 0
    @Flag(help: "Continue from the checkpoint in --checkpoint if there is one.")
    var resume = false
    @Flag(help: "Random crops (padding 2) and horizontal flips.")
    var augment = false
    @Option(parsing: .unconditional, help: "Gradient bucket size for the allreduce (bytes; K/M suffixes).")
    var bucketBytes = ByteCount(bytes: 4 << 20)
    @Option(parsing: .unconditional, help: "Seconds any rank may wait for a peer.")
    var timeout = 120.0
    @Option(help: "Topology descriptor (default: WEFT_TOPOLOGY): collectives follow its plan.")
    var topology: String?
    @Option(help: "Tuning file of algorithm rules (default: WEFT_TUNING).")
    var tuning: String?
    @Option(parsing: .unconditional, help: .hidden)
    var stopAfterSteps: Int?

    /// MPI's world communicator with the topology and tuning applied; failures end the job.
    func worldCommunicator() -> Communicator {
        startWorld(timeout: timeout, topology: topology, tuning: tuning)
    }

    func options() throws -> TrainingOptions {
        var o = TrainingOptions()
        do {
            o.model = try ModelSpec.named(model)
        } catch let error as ModelSpecError {
            failEverywhere(error.message)
        }
        guard epochs >= 1 else { failEverywhere("--epochs must be at least 1, got \(epochs)") }
        guard batchSize >= 1 else { failEverywhere("--batch-size must be at least 1, got \(batchSize)") }
        guard learningRate > 0 && learningRate.isFinite else { failEverywhere("--lr must be positive, got \(learningRate)") }
        guard ["sgd", "adamw"].contains(optimizer) else { failEverywhere("unknown --optimizer '\(optimizer)' (choose from sgd, adamw)") }
        guard ["constant", "step", "cosine"].contains(schedule) else {
            failEverywhere("unknown --schedule '\(schedule)' (choose from constant, step, cosine)")
        }
        if let trainLimit, trainLimit < 1 { failEverywhere("--train-limit must be at least 1, got \(trainLimit)") }
        if let testLimit, testLimit < 1 { failEverywhere("--test-limit must be at least 1, got \(testLimit)") }
        if resume && checkpoint == nil { failEverywhere("--resume needs --checkpoint DIR") }
        guard warmup >= 0 else { failEverywhere("--warmup must be 0 or more steps, got \(warmup)") }
        guard checkpointEvery >= 0 else { failEverywhere("--checkpoint-every must be 0 (epoch ends only) or more steps, got \(checkpointEvery)") }
        guard momentum.isFinite && momentum >= 0 && momentum < 1 else { failEverywhere("--momentum must be in [0, 1), got \(momentum)") }
        guard weightDecay.isFinite && weightDecay >= 0 else { failEverywhere("--weight-decay must be 0 or more, got \(weightDecay)") }
        guard bucketBytes.bytes >= 4 else { failEverywhere("--bucket-bytes must be at least 4, got \(bucketBytes)") }
        if let stopAfterSteps, stopAfterSteps < 1 { failEverywhere("--stop-after-steps must be at least 1, got \(stopAfterSteps)") }
        if let checkpoint { checkOutputPath(checkpoint, option: "--checkpoint", .folder) }
        o.epochs = epochs
        o.batchSize = batchSize
        o.learningRate = learningRate
        o.momentum = momentum
        o.nesterov = nesterov
        o.weightDecay = weightDecay
        o.optimizer = optimizer
        o.schedule = schedule
        o.warmupSteps = warmup
        o.seed = seed
        o.trainLimit = trainLimit
        o.testLimit = testLimit
        o.dataDirectory = data
        o.checkpointDirectory = checkpoint
        o.checkpointEvery = checkpointEvery
        o.resume = resume
        o.augment = augment
        o.bucketBytes = bucketBytes.bytes
        o.stopAfterSteps = stopAfterSteps
        do { try o.checkSettingsPath() } catch { failEverywhere("\(error)") }
        return o
    }
}

extension Train {
    struct DataParallel: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "dp",
            abstract: "Data-parallel training: gradients averaged across ranks every step.",
            discussion: "Final metrics are one JSON line on stdout; progress goes to stderr (rank 0)."
        )

        @OptionGroup var arguments: TrainingArguments

        func run() throws {
            let options = try arguments.options()
            runTrainingJob(arguments) { world in
                try DataParallelTrainer(options: options, communicator: world,
                                        progress: ProgressReporter(rank: world.rank)).run()
            }
        }
    }
}

/// Options of the methods with several models.
struct GroupArguments: ParsableArguments {
    @Option(help: "Comma-separated models, one per peer/group (mlp, cnn or spec files); default: --model for all.")
    var models: String?
    @Option(parsing: .unconditional, help: "Softmax temperature of the distillation term (T² scaled).")
    var temperature: Float = 1
    @Flag(help: "Print the simulator's predicted communication per step of dp, dml and codistill on --topology, then exit.")
    var dryRun = false
    @Option(parsing: .unconditional, help: "Ranks for --dry-run (default: the job's).")
    var ranks: Int?

    /// Range checks before MPI starts (NaN would otherwise surface later as a divergence).
    func validate() {
        guard temperature.isFinite && temperature > 0 else { failEverywhere("--temperature must be positive, got \(temperature)") }
        if let ranks, ranks < 1 { failEverywhere("--ranks must be at least 1, got \(ranks)") }
    }

    func specs(count: Int, fallback: ModelSpec) -> [ModelSpec] {
        guard let models else { return Array(repeating: fallback, count: count) }
        let names = models.split(separator: ",", omittingEmptySubsequences: false)
            .map { String($0).trimmingCharacters(in: .whitespaces) }
        // "mlp," is a typo, not "mlp for every peer": an empty name is refused.
        if let empty = names.firstIndex(of: "") {
            failEverywhere("--models '\(models)': name \(empty + 1) is empty; list one model (mlp, cnn or a spec file) "
                + "per peer, separated by commas")
        }
        let specs: [ModelSpec]
        do {
            specs = try names.map { try ModelSpec.named($0) }
        } catch let error as ModelSpecError {
            failEverywhere(error.message)
        } catch {
            failEverywhere("\(error)")
        }
        if specs.count == 1 { return Array(repeating: specs[0], count: count) }
        guard specs.count == count else {
            failEverywhere("--models lists \(specs.count) models for \(count) peers; give one or \(count)")
        }
        return specs
    }

    /// `--dry-run`: the forecast table from the simulator; never starts training.
    func dryRun(_ arguments: TrainingArguments, specs: [ModelSpec], groups: Int, exchangeEvery: Int) {
        guard let path = arguments.topology ?? ProcessInfo.processInfo.environment["WEFT_TOPOLOGY"] else {
            failEverywhere("--dry-run needs --topology FILE (the network to forecast on)")
        }
        do {
            let descriptor = try Descriptor.load(path)
            let network = try descriptor.build()
            let n = ranks ?? Int(ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] ?? "") ?? groups
            guard n >= groups && n % groups == 0 else {
                failEverywhere("--ranks \(n) must be a multiple of the \(groups) groups")
            }
            let forecast = try CommunicationForecast(network: network, descriptor: descriptor, ranks: n)
            let parameters = try specs.map { try Model(spec: $0, seed: 1).parameterCount }.max() ?? 0
            let lines = forecast.forecast(parameters: parameters, batch: arguments.batchSize, classes: specs[0].classes,
                                          groups: groups, exchangeEvery: exchangeEvery)
            guard launcherRank == 0 else { return }
            print("# predicted communication per training step: \(specs.map(\.name).joined(separator: ",")) "
                + "(\(parameters) parameters), batch \(arguments.batchSize) per rank, \(n) ranks on \(path)")
            print("method      groups  time_us/step  MB/step in groups  MB/step across  algorithms")
            for l in lines {
                print(l.method.padding(toLength: 10, withPad: " ", startingAt: 0)
                    + String(format: " %7ld %13.1f %18.3f %15.3f  ", l.groups, l.time_us_per_step, l.bytes_in_group / 1e6,
                             l.bytes_across_groups / 1e6) + l.algorithms)
            }
        } catch {
            failEverywhere("\(error)")
        }
    }
}

/// Runs a training job on the world communicator: its JSON line from rank 0, or its
/// failure said once (errors every rank shares), by the rank that saw it (transport
/// errors), or by the diverging peer's group.
func runTrainingJob<T: Encodable>(_ arguments: TrainingArguments, _ body: (Communicator) throws -> T) {
    setBLASThreads(Int(ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"] ?? "1") ?? 1)
    let communicator = arguments.worldCommunicator()
    do {
        let result = try body(communicator)
        if communicator.rank == 0 { printJSONLine(result) }
        Runtime.finalize()
    } catch let error as PeerDivergence {
        if error.everywhere { failEverywhere(error.message, code: 1) }
        if error.reporter { printError(error.message) }
        Runtime.abort(code: 1)
    } catch let error as WeftError {
        printError("rank \(communicator.rank): \(error)")
        Runtime.abort(code: 1)
    } catch {
        failEverywhere("\(error)", code: 1)
    }
}

/// Runs a group method and reports the result, or the diverging peer.
func runGroupTraining(_ method: GroupTrainer.Method, _ arguments: TrainingArguments, _ group: GroupTrainingOptions) throws {
    let options = try arguments.options()
    runTrainingJob(arguments) { world in
        try GroupTrainer(method: method, options: options, group: group, world: world,
                         progress: ProgressReporter(rank: world.rank)).run()
    }
}

extension Train {
    struct MutualLearning: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "dml",
            abstract: "Deep mutual learning: K peer models exchange logits every step (one allgather).",
            discussion: "Peers live on their own ranks or groups of ranks (data-parallel inside when ranks > K)."
        )
        @OptionGroup var arguments: TrainingArguments
        @OptionGroup var group: GroupArguments
        @Option(parsing: .unconditional, help: "Number of peer models.") var peers = 2
        @Option(parsing: .unconditional, help: "Weight of the mean KL term towards the other peers.") var klWeight: Float = 1

        func run() throws {
            guard peers >= 1 else { failEverywhere("--peers must be at least 1, got \(peers)") }
            guard klWeight.isFinite && klWeight >= 0 else { failEverywhere("--kl-weight must be 0 or more, got \(klWeight)") }
            group.validate()
            let base = try arguments.options().model
            let specs = group.specs(count: peers, fallback: base)
            // The co-distillation line of the forecast uses codistill's default period.
            if group.dryRun { return group.dryRun(arguments, specs: specs, groups: peers, exchangeEvery: 50) }
            var options = GroupTrainingOptions()
            options.models = specs
            options.temperature = group.temperature
            options.distillWeight = klWeight
            try runGroupTraining(.mutualLearning, arguments, options)
        }
    }

    struct CoDistillation: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "codistill",
            abstract: "Online co-distillation: G data-parallel groups distil from each other's stale weights.",
            discussion: "Bytes across groups fall as 1/N with --exchange-every N."
        )
        @OptionGroup var arguments: TrainingArguments
        @OptionGroup var group: GroupArguments
        @Option(parsing: .unconditional, help: "Number of groups (each a data-parallel replica of its model).") var groups = 2
        @Option(parsing: .unconditional, help: "Steps between exchanges.") var exchangeEvery = 50
        @Option(parsing: .unconditional, help: "Steps before the distillation term starts.") var burnIn = 100
        @Option(help: "What travels: weights (stale teachers) or predictions (on a shared batch).") var exchange = "weights"
        @Option(parsing: .unconditional, help: "Weight of the distillation term.") var distillWeight: Float = 1

        func run() throws {
            guard groups >= 1 else { failEverywhere("--groups must be at least 1, got \(groups)") }
            guard exchangeEvery >= 1 else { failEverywhere("--exchange-every must be at least 1 step, got \(exchangeEvery)") }
            guard burnIn >= 0 else { failEverywhere("--burn-in must not be negative, got \(burnIn)") }
            guard distillWeight.isFinite && distillWeight >= 0 else {
                failEverywhere("--distill-weight must be 0 or more, got \(distillWeight)")
            }
            group.validate()
            guard ["weights", "predictions"].contains(exchange) else {
                failEverywhere("unknown --exchange '\(exchange)' (choose from weights, predictions)")
            }
            let base = try arguments.options().model
            let specs = group.specs(count: groups, fallback: base)
            if group.dryRun { return group.dryRun(arguments, specs: specs, groups: groups, exchangeEvery: exchangeEvery) }
            var options = GroupTrainingOptions()
            options.models = specs
            options.temperature = group.temperature
            options.distillWeight = distillWeight
            options.exchangeEvery = exchangeEvery
            options.burnIn = burnIn
            options.exchange = exchange
            try runGroupTraining(.codistillation, arguments, options)
        }
    }
}

/// Prints `value` as one JSON line. A value JSON cannot hold (inf, NaN) ends the run with
/// one line naming its key: printing nothing and exiting 0 looked like success.
func printJSONLine<T: Encodable>(_ value: T) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    do {
        let data = try encoder.encode(value)
        print(String(decoding: data, as: UTF8.self))
        fflush(nil)
    } catch EncodingError.invalidValue(let bad, let context) {
        let key = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        failEverywhere("cannot print JSON: \(key.isEmpty ? "a value" : "key '\(key)'") is \(bad), which JSON cannot hold; "
            + "check the inputs it comes from", code: 1)
    } catch {
        failEverywhere("cannot print JSON: \(error)", code: 1)
    }
}
