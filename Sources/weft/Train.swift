import ArgumentParser
import Foundation
import Weft
import WeftNN
import WeftTrain

/// `weft train`: training jobs across ranks.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train on Fashion-MNIST across ranks.",
        subcommands: [DataParallel.self]
    )
}

/// Options every training job shares.
struct TrainingArguments: ParsableArguments {
    @Option(help: "mlp, cnn, or a model spec JSON file.")
    var model = "mlp"
    @Option var epochs = 10
    @Option(help: "Samples per rank per step.")
    var batchSize = 128
    @Option(name: .customLong("lr"), help: "Base learning rate.")
    var learningRate: Float = 0.05
    @Option var momentum: Float = 0.9
    @Flag var nesterov = false
    @Option var weightDecay: Float = 5e-4
    @Option(help: "sgd or adamw.")
    var optimizer = "sgd"
    @Option(help: "constant, step (×0.1 at 1/3 and 2/3) or cosine.")
    var schedule = "cosine"
    @Option(help: "Linear warm-up steps before the schedule.")
    var warmup = 0
    @Option var seed: UInt64 = 1
    @Option(help: "Use only the first N training images.")
    var trainLimit: Int?
    @Option(help: "Folder with the Fashion-MNIST IDX files.")
    var data = FashionMNIST.defaultDirectory
    @Option(help: "Folder for checkpoints (written atomically at each epoch end).")
    var checkpoint: String?
    @Option(help: "Also checkpoint every N steps.")
    var checkpointEvery = 0
    @Flag(help: "Continue from the checkpoint in --checkpoint if there is one.")
    var resume = false
    @Flag(help: "Random crops (padding 2) and horizontal flips.")
    var augment = false
    @Option(help: "Gradient bucket size for the allreduce (bytes; K/M suffixes).")
    var bucketBytes = ByteCount(bytes: 4 << 20)
    @Option(help: "Seconds any rank may wait for a peer.")
    var timeout = 120.0
    @Option(help: "Topology descriptor (default: WEFT_TOPOLOGY): collectives follow its plan.")
    var topology: String?
    @Option(help: "Tuning file of algorithm rules (default: WEFT_TUNING).")
    var tuning: String?
    @Option(help: .hidden)
    var stopAfterSteps: Int?

    /// MPI's world communicator with the topology and tuning applied; failures end the job.
    func worldCommunicator() -> Communicator {
        let communicator: Communicator
        do {
            communicator = try Communicator.world()
        } catch {
            failEverywhere("cannot start MPI: \(error)", code: 1)
        }
        Runtime.timeout = timeout
        do {
            try communicator.configure(topology: topology, tuning: tuning)
        } catch {
            failEverywhere("\(error)")
        }
        return communicator
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
        if resume && checkpoint == nil { failEverywhere("--resume needs --checkpoint DIR") }
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
        o.dataDirectory = data
        o.checkpointDirectory = checkpoint
        o.checkpointEvery = checkpointEvery
        o.resume = resume
        o.augment = augment
        o.bucketBytes = bucketBytes.bytes
        o.stopAfterSteps = stopAfterSteps
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
            setBLASThreads(Int(ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"] ?? "1") ?? 1)
            let communicator = arguments.worldCommunicator()
            do {
                let trainer = try DataParallelTrainer(options: options, communicator: communicator,
                                                      progress: ProgressReporter(rank: communicator.rank))
                let result = try trainer.run()
                if communicator.rank == 0 { printJSONLine(result) }
                Runtime.finalize()
            } catch let error as WeftError {
                printError("rank \(communicator.rank): \(error)")
                Runtime.abort(code: 1)
            } catch {
                // Data, model and training errors are the same on every rank: say it once.
                failEverywhere("\(error)", code: 1)
            }
        }
    }
}

func printJSONLine<T: Encodable>(_ value: T) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    if let data = try? encoder.encode(value) {
        print(String(decoding: data, as: UTF8.self))
        fflush(nil)
    }
}
