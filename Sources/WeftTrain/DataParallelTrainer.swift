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
    let progress: ProgressReporter
    let model: Model
    let optimizer: Optimizer
    let sampler: BatchSampler
    let train: Dataset
    let test: Dataset
    let totalSteps: Int

    private var commBytes = 0
    private var commSeconds = 0.0
    /// Gradients live here when the ranks share a node, so the allreduce is single-copy.
    private var registeredGradients: RegisteredBuffer<Float>?

    public init(options: TrainingOptions, communicator: Communicator, progress: ProgressReporter) throws {
        self.options = options
        self.communicator = communicator
        self.progress = progress
        retainFreedMemory()
        var train = try FashionMNIST.load(train: true, directory: options.dataDirectory)
        if let limit = options.trainLimit { train = train.prefix(limit) }
        self.train = train
        test = try FashionMNIST.load(train: false, directory: options.dataDirectory)
        guard Array(options.model.input) == train.sampleShape && options.model.classes == train.classes else {
            throw TrainingError("model \(options.model.name) takes input \(options.model.input) with \(options.model.classes) "
                + "classes, but the data are \(train.sampleShape) with \(train.classes) classes")
        }
        model = try Model(spec: options.model, seed: options.seed)
        sampler = try BatchSampler(samples: train.count, batchSize: options.batchSize, rank: communicator.rank,
                                   ranks: communicator.size, seed: options.seed)
        totalSteps = options.epochs * sampler.batchesPerEpoch
        optimizer = try Replica.optimizer(options, count: model.parameterCount)
        registeredGradients = try registerGradients(model.store, communicator)
        // Each rank draws its own dropout masks.
        var states = model.network.randomStates
        for i in states.indices { states[i] = SeededRandom(seed: options.seed).derived(UInt64(communicator.rank * 1000 + i)).state }
        model.network.randomStates = states
    }

    var schedule: LearningRateSchedule { Replica.schedule(options, totalSteps: totalSteps) }

    var checkpointPath: String? { options.checkpointDirectory.map { "\($0)/checkpoint.weft" } }

    public func run() throws -> TrainingResult {
        let start = Date()
        var epoch = 0, batch = 0, step = 0
        if options.resume, let path = checkpointPath, FileManager.default.fileExists(atPath: path) {
            (epoch, batch, step) = try restore(from: path)
            for note in try options.checkResumeSettings(in: options.checkpointDirectory!) { progress.note(note) }
            progress.note("resuming from \(path) at epoch \(epoch + 1), batch \(batch + 1) (step \(step))")
        } else {
            try synchronizeInitialWeights()
        }
        var trainedSamples = 0
        var trainSeconds = 0.0
        var lastLoss = 0.0
        while epoch < options.epochs {
            let order = sampler.permutation(epoch: epoch)
            let epochStart = Date()
            var lossSum = 0.0, lossCount = 0
            while batch < sampler.batchesPerEpoch {
                if let stop = options.stopAfterSteps, step >= stop { return try finish(start: start, trainSeconds: trainSeconds, samples: trainedSamples, loss: lastLoss, epoch: epoch) }
                let t0 = Date()
                let loss = try trainStep(epoch: epoch, batch: batch, step: step, order: order)
                trainSeconds += Date().timeIntervalSince(t0)
                trainedSamples += sampler.batch(batch, of: order).count * communicator.size
                lossSum += loss
                lossCount += 1
                lastLoss = lossSum / Double(lossCount)
                batch += 1
                step += 1
                progress.step(epoch: epoch, of: options.epochs, batch: batch, of: sampler.batchesPerEpoch, loss: lastLoss,
                              samplesPerSecond: Double(trainedSamples) / max(trainSeconds, 1e-9))
                if options.checkpointEvery > 0 && step % options.checkpointEvery == 0 && batch < sampler.batchesPerEpoch {
                    try saveCheckpoint(epoch: epoch, batch: batch, step: step)
                }
            }
            epoch += 1
            batch = 0
            try saveCheckpoint(epoch: epoch, batch: 0, step: step)
            progress.epochDone(epoch: epoch, of: options.epochs, loss: lastLoss, seconds: Date().timeIntervalSince(epochStart))
        }
        return try finish(start: start, trainSeconds: trainSeconds, samples: trainedSamples, loss: lastLoss, epoch: epoch)
    }

    private func finish(start: Date, trainSeconds: Double, samples: Int, loss: Double, epoch: Int) throws -> TrainingResult {
        let (accuracy, testLoss) = try evaluate()
        var slowest = [trainSeconds]
        try communicator.allreduce(&slowest, op: .max, algorithm: .mpi)
        return TrainingResult(test_accuracy: accuracy, test_loss: testLoss, train_loss: loss, epochs: epoch,
                              samples_per_s: samples > 0 ? Double(samples) / max(slowest[0], 1e-9) : 0,
                              comm_bytes: commBytes, comm_time_s: commSeconds, wall_s: Date().timeIntervalSince(start),
                              ranks: communicator.size, parameters: model.parameterCount, model: options.model.name,
                              comm_bytes_in_group: commBytes * communicator.size, comm_bytes_across_groups: 0,
                              peer_accuracies: [accuracy], ensemble_accuracy: accuracy, method: "dp")
    }

    /// One optimisation step; returns the batch loss averaged over ranks.
    private func trainStep(epoch: Int, batch: Int, step: Int, order: [Int]) throws -> Double {
        let indices = sampler.batch(batch, of: order)
        var random = SeededRandom(seed: options.seed).derived(UInt64(epoch) << 40 | UInt64(communicator.rank) << 24 | UInt64(batch))
        let builder = BatchBuilder(cropPadding: options.augment ? 2 : 0, flip: options.augment)
        let (x, labels) = builder.make(train, indices, random: &random)
        model.store.zeroGradients()
        let logits = model.forward(x, training: true)
        let (loss, gradient) = CrossEntropy.lossAndGradient(logits: logits, labels: labels)
        model.backward(gradient)
        try averageGradients()
        var status = [Double(loss), loss.isFinite ? 0 : 1]
        try communicator.allreduce(&status, op: .sum, algorithm: .auto)
        if status[1] > 0 {
            let kept = checkpointPath.map { FileManager.default.fileExists(atPath: $0) ? "; the last good checkpoint \($0) is kept" : "" } ?? ""
            throw TrainingError("loss became \(loss.isNaN ? "NaN" : "infinite") at epoch \(epoch + 1), step \(step + 1)\(kept); "
                + "lower --lr or check the data")
        }
        optimizer.learningRate = schedule.rate(base: options.learningRate, step: step)
        optimizer.step(parameters: model.store.values, gradients: UnsafeBufferPointer(model.store.gradients), mask: nil)
        return status[0] / Double(communicator.size)
    }

    /// Averages gradients across ranks in buckets of `bucketBytes`.
    private func averageGradients() throws {
        guard communicator.size > 1 else { return }
        commSeconds += try averageInBuckets(model.store.gradients, over: communicator, bucketBytes: options.bucketBytes)
        commBytes += model.store.gradients.count * MemoryLayout<Float>.stride
    }

    /// Rank 0's initial weights and statistics go to every rank (as DDP does).
    private func synchronizeInitialWeights() throws {
        guard communicator.size > 1 else { return }
        try communicator.broadcast(model.store.values, root: 0)
        try communicator.broadcast(model.store.state, root: 0)
        commBytes += (model.store.values.count + model.store.state.count) * 4
    }

    /// Test accuracy and mean loss, each rank evaluating a strided share of the test set.
    public func evaluate() throws -> (accuracy: Double, loss: Double) {
        try synchronizeStatistics()
        var totals = [0.0, 0.0]
        let mine = Array(stride(from: communicator.rank, to: test.count, by: communicator.size))
        var random = SeededRandom(seed: 0)
        for start in stride(from: 0, to: mine.count, by: 500) {
            let (x, labels) = BatchBuilder().make(test, mine[start..<min(start + 500, mine.count)], random: &random)
            let (loss, correct) = CrossEntropy.evaluate(logits: model.forward(x, training: false), labels: labels)
            totals[0] += loss
            totals[1] += Double(correct)
        }
        try communicator.allreduce(&totals, op: .sum, algorithm: .mpi)
        return (totals[1] / Double(test.count), totals[0] / Double(test.count))
    }

    /// Batch-norm running statistics are local to each rank (as in DDP without SyncBN);
    /// they are averaged before evaluation and checkpoints so every replica agrees.
    private func synchronizeStatistics() throws {
        guard communicator.size > 1 && model.store.stateCount > 0 else { return }
        try communicator.allreduce(model.store.state, op: .avg, algorithm: .mpi)
    }

    // MARK: - Checkpoints

    private func saveCheckpoint(epoch: Int, batch: Int, step: Int) throws {
        guard let path = checkpointPath else { return }
        try synchronizeStatistics()
        // Every rank's generator states, gathered so rank 0 can write them all.
        let mine = model.network.randomStates.map { Int64(bitPattern: $0) }
        var all = [Int64](repeating: 0, count: mine.count * communicator.size)
        for (i, v) in mine.enumerated() { all[communicator.rank * mine.count + i] = v }
        if !mine.isEmpty { try all.withUnsafeMutableBufferPointer { try communicator.allgather($0, algorithm: .mpi) } }
        if communicator.rank == 0 {
            let checkpoint = Checkpoint(signature: model.signature, epoch: epoch, batchInEpoch: batch, step: step,
                                        parameters: Array(model.store.values), state: Array(model.store.state),
                                        optimizer: optimizer.state,
                                        randomStates: [UInt64(communicator.size)] + all.map { UInt64(bitPattern: $0) })
            try checkpoint.write(to: path)
            try options.writeResumeSettings(in: options.checkpointDirectory!)
        }
        try communicator.barrier(algorithm: .mpi)
    }

    private func restore(from path: String) throws -> (Int, Int, Int) {
        let checkpoint = try Checkpoint.read(from: path)
        guard checkpoint.signature == model.signature else {
            throw TrainingError("checkpoint \(path) was written for a different model than \(options.model.name); "
                + "it was not loaded (use another --checkpoint directory or the same --model)")
        }
        guard checkpoint.parameters.count == model.parameterCount, checkpoint.state.count == model.store.stateCount,
              let ranks = checkpoint.randomStates.first
        else { throw TrainingError("checkpoint \(path) does not match the model's sizes; it was not loaded") }
        guard Int(ranks) == communicator.size else {
            throw TrainingError("checkpoint \(path) was written by a \(ranks)-rank job; resume it with \(ranks) ranks")
        }
        guard checkpoint.epoch <= options.epochs else {
            throw TrainingError("checkpoint \(path) is at epoch \(checkpoint.epoch), beyond --epochs \(options.epochs)")
        }
        let currentOptimizerCount = optimizer.state.count
        guard checkpoint.optimizer.count == currentOptimizerCount else {
            throw TrainingError("checkpoint \(path) holds state of another optimizer than --optimizer \(options.optimizer); it was not loaded")
        }
        _ = model.store.values.update(fromContentsOf: checkpoint.parameters)
        _ = model.store.state.update(fromContentsOf: checkpoint.state)
        optimizer.state = checkpoint.optimizer
        let perRank = model.network.randomStates.count
        let states = Array(checkpoint.randomStates.dropFirst())
        if perRank > 0 {
            model.network.randomStates = Array(states[(communicator.rank * perRank)..<((communicator.rank + 1) * perRank)])
        }
        return (checkpoint.epoch, checkpoint.batchInEpoch, checkpoint.step)
    }
}
