import Foundation
import Weft
import WeftNN

/// Data-parallel training: every rank holds a replica, trains on its shard of each batch
/// order, and gradients are averaged across ranks (fused into buckets, one allreduce each)
/// before every optimizer step, so replicas stay identical.
///
/// Gradient allreduces run after the backward pass rather than overlapped with it: with
/// one rank per core there is no idle core to progress the communication meanwhile, so
/// overlap would only interleave the same work.
public final class DataParallelTrainer {
    let options: TrainingOptions
    let communicator: Communicator
    let test: Dataset
    let loop: TrainingLoop
    var replica: Replica { loop.replica }

    public init(options: TrainingOptions, communicator: Communicator, progress: ProgressReporter) throws {
        self.options = options
        self.communicator = communicator
        retainFreedMemory()
        let train = try options.trainingSet()
        test = try options.testSet()
        guard Array(options.model.input) == train.sampleShape && options.model.classes == train.classes else {
            throw TrainingError("model \(options.model.name) takes input \(options.model.input) with \(options.model.classes) "
                + "classes, but the data are \(train.sampleShape) with \(train.classes) classes")
        }
        let sampler = try BatchSampler(samples: train.count, batchSize: options.batchSize, rank: communicator.rank,
                                       ranks: communicator.size, seed: options.seed)
        let replica = try Replica(spec: options.model, options: options, seed: options.seed,
                                  totalSteps: options.epochs * sampler.batchesPerEpoch, rank: communicator.rank)
        loop = try TrainingLoop(replica: replica, options: options, train: train, sampler: sampler, group: communicator,
                                world: communicator, progress: progress,
                                checkpointPath: options.checkpointDirectory.map { "\($0)/checkpoint.weft" },
                                methodSettings: [TrainingOptions.methodKey: "dp"])
    }

    public func run() throws -> TrainingResult {
        let start = Date()
        let summary = try loop.run(trainStep)
        let (accuracy, testLoss) = try evaluate()
        var slowest = [summary.seconds]
        try communicator.allreduce(&slowest, op: .max, algorithm: .mpi)
        let commBytes = replica.bytesInGroup
        return TrainingResult(test_accuracy: accuracy, test_loss: testLoss, test_images: test.count,
                              train_loss: summary.loss, epochs: summary.epochs,
                              samples_per_s: summary.samples > 0 ? Double(summary.samples) / max(slowest[0], 1e-9) : 0,
                              comm_bytes: commBytes, comm_time_s: replica.secondsInGroup,
                              wall_s: Date().timeIntervalSince(start), ranks: communicator.size,
                              parameters: replica.model.parameterCount,
                              peer_parameters: [replica.model.parameterCount], model: options.model.name,
                              comm_bytes_in_group: commBytes * communicator.size, comm_bytes_across_groups: 0,
                              peer_accuracies: [accuracy], ensemble_accuracy: accuracy, method: "dp")
    }

    /// One optimisation step; returns the batch loss averaged over ranks.
    private func trainStep(_ batch: TrainingLoop.Batch) throws -> Double {
        let model = replica.model
        model.store.zeroGradients()
        let logits = model.forward(batch.x, training: true)
        let (loss, gradient) = CrossEntropy.lossAndGradient(logits: logits, labels: batch.labels)
        model.backward(gradient)
        try replica.averageGradients(group: communicator)
        var status = [Double(loss), loss.isFinite ? 0 : 1]
        try communicator.allreduce(&status, op: .sum, algorithm: .auto)
        if status[1] > 0 {
            let kept = loop.checkpointPath.map { FileManager.default.fileExists(atPath: $0) ? "; the last good checkpoint \($0) is kept" : "" } ?? ""
            throw TrainingError("loss became \(loss.isNaN ? "NaN" : "infinite") at epoch \(batch.epoch + 1), step \(batch.step + 1)\(kept); "
                + "lower --lr or check the data")
        }
        replica.applyGradients(step: batch.step)
        return status[0] / Double(communicator.size)
    }

    /// Test accuracy and mean loss, each rank evaluating a strided share of the test set.
    public func evaluate() throws -> (accuracy: Double, loss: Double) {
        // Batch-norm running statistics are local to each rank (as in DDP without SyncBN).
        try replica.synchronizeStatistics(group: communicator)
        var totals = [0.0, 0.0]
        let mine = Array(stride(from: communicator.rank, to: test.count, by: communicator.size))
        var random = SeededRandom(seed: 0)
        for start in stride(from: 0, to: mine.count, by: 500) {
            let (x, labels) = BatchBuilder().make(test, mine[start..<min(start + 500, mine.count)], random: &random)
            let (loss, correct) = CrossEntropy.evaluate(logits: replica.model.forward(x, training: false), labels: labels)
            totals[0] += loss
            totals[1] += Double(correct)
        }
        try communicator.allreduce(&totals, op: .sum, algorithm: .mpi)
        return (totals[1] / Double(test.count), totals[0] / Double(test.count))
    }
}
