import Foundation
import WeftNN

/// Settings shared by the training jobs (`weft train dp` and later methods).
public struct TrainingOptions: Sendable {
    public var model: ModelSpec = .mlp
    public var epochs = 10
    /// Samples per rank per step (as PyTorch DDP and Horovod: the global batch is ranks × this).
    public var batchSize = 128
    public var learningRate: Float = 0.05
    public var momentum: Float = 0.9
    public var nesterov = false
    public var weightDecay: Float = 5e-4
    public var optimizer = "sgd"
    public var schedule = "cosine"
    public var warmupSteps = 0
    public var seed: UInt64 = 1
    public var trainLimit: Int?
    /// Score only the first N test images (quick runs); nil: all 10,000.
    public var testLimit: Int?
    public var dataDirectory = FashionMNIST.defaultDirectory
    public var checkpointDirectory: String?
    /// Also checkpoint every this many steps (0: only at the end of each epoch).
    public var checkpointEvery = 0
    public var resume = false
    public var augment = false
    /// Gradients are allreduced in buckets of at most this many bytes.
    public var bucketBytes = 4 << 20
    /// Stop after this many optimisation steps in total (for tests of interruption).
    public var stopAfterSteps: Int?

    public init() {}

    /// The training images, the first `trainLimit` of them when set.
    public func trainingSet() throws -> Dataset {
        let train = try FashionMNIST.load(train: true, directory: dataDirectory)
        return trainLimit.map { train.prefix($0) } ?? train
    }

    /// The test images, the first `testLimit` of them when set.
    public func testSet() throws -> Dataset {
        let test = try FashionMNIST.load(train: false, directory: dataDirectory)
        return testLimit.map { test.prefix($0) } ?? test
    }

    /// The settings recorded beside a checkpoint, as option name → value.
    public var resumeSettings: [String: String] {
        [
            "--epochs": "\(epochs)", "--batch-size": "\(batchSize)", "--lr": "\(learningRate)",
            "--momentum": "\(momentum)", "--weight-decay": "\(weightDecay)", "--optimizer": optimizer,
            "--schedule": schedule, "--warmup": "\(warmupSteps)", "--seed": "\(seed)",
            "--train-limit": trainLimit.map { "\($0)" } ?? "none", "--augment": "\(augment)", "--nesterov": "\(nesterov)",
        ]
    }

    /// Settings that define the data order and what the checkpoint's position means: a
    /// resumed run with others would not continue the original (its batch index could lie
    /// past a shorter epoch and train nothing), so they are refused. The peer count and
    /// co-distillation's exchange also fix what each peer's checkpoint holds.
    public static let fixedOnResume: Set<String> = ["--batch-size", "--train-limit", "--seed", "--augment",
                                                    "--peers", "--groups", "--exchange", "--sampling"]

    /// The key under which `settings.json` records the method (dp, dml, codistill, nas supernet).
    public static let methodKey = "method"

    /// Where a run records its settings beside its checkpoint in `directory`.
    public static func settingsPath(in directory: String) -> String {
        (directory as NSString).appendingPathComponent("settings.json")
    }

    /// The settings recorded in `directory`: nil when there are none, an error when the file
    /// is not such a record.
    public static func recordedSettings(in directory: String) throws -> [String: String]? {
        let path = settingsPath(in: directory)
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        guard let recorded = try? JSONDecoder().decode([String: String].self, from: data) else {
            throw TrainingError("\(path) is damaged; it records the settings of the run that wrote the checkpoint")
        }
        return recorded
    }

    /// Refuses, before any training, a checkpoint folder whose `settings.json` is not a file:
    /// the run could not record its settings and would fail only at its first checkpoint.
    public func checkSettingsPath() throws {
        guard let directory = checkpointDirectory else { return }
        var isFolder: ObjCBool = false
        let path = TrainingOptions.settingsPath(in: directory)
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) && isFolder.boolValue {
            throw TrainingError("\(path) is a folder; it must be the file recording the run's settings beside the "
                + "checkpoint: remove it or use another --checkpoint folder")
        }
    }

    /// Refuses a checkpoint folder whose `settings.json` records another method's run when
    /// this run starts afresh there: its first checkpoint would overwrite those settings, and
    /// the other run could then no longer resume.
    public func checkFolderMethod(in directory: String, method: [String: String] = [:]) throws {
        // A damaged record is no run to keep: this run's first checkpoint replaces it.
        guard let recorded = (try? TrainingOptions.recordedSettings(in: directory)) ?? nil,
              let theirs = recorded[TrainingOptions.methodKey],
              let ours = resumeSettings.merging(method, uniquingKeysWith: { $1 })[TrainingOptions.methodKey],
              theirs != ours
        else { return }
        throw TrainingError("--checkpoint \(directory) holds a weft train \(theirs) run (\(TrainingOptions.settingsPath(in: directory))); this \(ours) run "
            + "would overwrite its settings: use another --checkpoint folder")
    }

    /// Refuses to resume from `directory` when a fixed setting differs from the recorded one;
    /// returns one note per other setting that changes from the resume on (e.g. more epochs).
    /// `method`: the training method's own settings (e.g. `--peers`), compared alike.
    public func checkResumeSettings(in directory: String, method: [String: String] = [:]) throws -> [String] {
        // Called with a checkpoint present: its settings went missing (removed, copied
        // without it), so nothing can be compared; say so rather than resume silently. The
        // checkpoint's position is still checked against this run's epoch (`checkPosition`).
        guard let recorded = try TrainingOptions.recordedSettings(in: directory) else {
            return ["\(TrainingOptions.settingsPath(in: directory)) is missing: resuming without checking the settings against the checkpoint's"]
        }
        let current = resumeSettings.merging(method) { $1 }
        // Another method's checkpoint may load (same model, same sizes) yet means something
        // else: a co-distillation peer resumed as a DML peer would lose its teachers.
        if let theirs = recorded[TrainingOptions.methodKey], let ours = current[TrainingOptions.methodKey], theirs != ours {
            throw TrainingError("--resume: the checkpoint in \(directory) was written by weft train \(theirs), not \(ours); "
                + "resume it with weft train \(theirs) or start a new --checkpoint folder")
        }
        let differing = current.keys.sorted().filter { recorded[$0] != nil && recorded[$0] != current[$0] }
        let describe = { (key: String) in "\(key) \(current[key]!) (checkpoint: \(recorded[key]!))" }
        let refused = differing.filter { TrainingOptions.fixedOnResume.contains($0) }
        guard refused.isEmpty else {
            throw TrainingError("--resume with settings that contradict the checkpoint in \(directory): "
                + refused.map(describe).joined(separator: ", ")
                + "; resume with the checkpoint's settings or start a new --checkpoint folder")
        }
        return differing.map { "resuming with \(describe($0)); it applies from the checkpoint's step on" }
    }

    /// Records these settings beside the checkpoint (rank 0, at every checkpoint).
    public func writeResumeSettings(in directory: String, method: [String: String] = [:]) throws {
        try writeJSONAtomically(resumeSettings.merging(method) { $1 }, to: TrainingOptions.settingsPath(in: directory))
    }
}

/// The final line of a training job, printed as JSON on stdout.
public struct TrainingResult: Encodable, Sendable {
    public var test_accuracy: Double
    public var test_loss: Double
    /// Test images scored (10,000 unless `--test-limit`).
    public var test_images: Int
    public var train_loss: Double
    public var epochs: Int
    public var samples_per_s: Double
    public var comm_bytes: Int
    public var comm_time_s: Double
    public var wall_s: Double
    public var ranks: Int
    /// Parameters of the model `test_accuracy` scores (dp's; with several, peer 0's).
    public var parameters: Int
    /// Parameters of each group's model, in `peer_accuracies`' order.
    public var peer_parameters: [Int]
    public var model: String
    /// Bytes handed to collectives inside groups and across them, summed over all ranks
    /// (data-parallel training is one group).
    public var comm_bytes_in_group: Int
    public var comm_bytes_across_groups: Int
    /// Test accuracy of each group's model, and of their ensemble (mean probabilities).
    public var peer_accuracies: [Double]
    public var ensemble_accuracy: Double
    /// The method: dp, dml or codistill.
    public var method: String
}

/// Settings of the methods with several models: deep mutual learning and co-distillation.
public struct GroupTrainingOptions: Sendable {
    /// One model per group (peer), in group order.
    public var models: [ModelSpec] = []
    public var temperature: Float = 1
    /// Weight of the distillation (KL) term.
    public var distillWeight: Float = 1
    /// Co-distillation: steps between exchanges, steps before the distillation term starts,
    /// and what travels (`weights`, or `predictions` on a shared batch).
    public var exchangeEvery = 50
    public var burnIn = 0
    public var exchange = "weights"

    public init() {}
}

public struct TrainingError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
