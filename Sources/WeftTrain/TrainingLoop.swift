import Foundation
import Weft
import WeftNN

/// The epoch loop every training method shares (dp, dml, codistill, the supernet): this
/// rank's batches in the sampler's order, seeded per (epoch, rank, batch); timing,
/// progress and `--stop-after-steps`; checkpoints at epoch ends and every
/// `--checkpoint-every` steps, and `--resume` from them (`TrainingLoop+Checkpoint.swift`).
/// A method brings a `Replica` and what one step does with a batch, so a fix to the loop
/// lands in every method at once.
final class TrainingLoop {
    /// Where a run stands: epoch, batch in that epoch, optimisation steps so far.
    struct Position {
        var epoch = 0
        var batch = 0
        var step = 0
    }

    /// One batch of this rank's shard, and where it falls in the run.
    struct Batch {
        let epoch: Int
        let batch: Int
        let step: Int
        let x: Tensor
        let labels: [Int32]
    }

    /// What this run did (after a resume, only the part since the checkpoint).
    struct Summary {
        /// Epochs completed (fewer than `--epochs` after `--stop-after-steps`), and steps
        /// (both counting those before a resume).
        var epochs = 0
        var steps = 0
        /// Samples trained by all ranks, and seconds this rank spent in steps.
        var samples = 0
        var seconds = 0.0
        /// Mean step loss over the last epoch's steps.
        var loss = 0.0
    }

    let replica: Replica
    let options: TrainingOptions
    let train: Dataset
    let sampler: BatchSampler
    /// The ranks training this replica together (data-parallel), and the whole job.
    let group: Communicator
    let world: Communicator
    let progress: ProgressReporter
    /// This rank's checkpoint file (written by the group's rank 0); nil: no checkpoints.
    let checkpointPath: String?
    /// The method's own settings, recorded beside the checkpoints and checked on resume.
    let methodSettings: [String: String]
    /// State the method keeps in its checkpoint besides the replica (co-distillation's
    /// stale teachers): what to save, and how to take it back on resume.
    var saveMethodState: () -> [Float] = { [] }
    var restoreMethodState: (_ saved: [Float], _ path: String) throws -> Void = { _, _ in }
    /// The batch size and training samples the restored checkpoint records (0: unknown).
    var written = (batchSize: 0, samples: 0)
    /// The replica's gradients in a shared window of the group (single-copy allreduce).
    private var registeredGradients: RegisteredBuffer<Float>?

    init(replica: Replica, options: TrainingOptions, train: Dataset, sampler: BatchSampler, group: Communicator,
         world: Communicator, progress: ProgressReporter, checkpointPath: String?,
         methodSettings: [String: String] = [:]) throws {
        self.replica = replica
        self.options = options
        self.train = train
        self.sampler = sampler
        self.group = group
        self.world = world
        self.progress = progress
        self.checkpointPath = checkpointPath
        self.methodSettings = methodSettings
        registeredGradients = try registerGradients(replica.model.store, group)
    }

    /// Trains from the start (or the checkpoint, with `--resume`) to the last epoch;
    /// `step` trains on one batch and returns its loss.
    func run(_ step: (Batch) throws -> Double) throws -> Summary {
        var at = try start()
        var summary = Summary()
        let builder = BatchBuilder(cropPadding: options.augment ? 2 : 0, flip: options.augment)
        while at.epoch < options.epochs {
            let order = sampler.permutation(epoch: at.epoch)
            let epochStart = Date()
            var lossSum = 0.0, lossCount = 0
            while at.batch < sampler.batchesPerEpoch {
                if let stop = options.stopAfterSteps, at.step >= stop {
                    (summary.epochs, summary.steps) = (at.epoch, at.step)
                    return summary
                }
                let t0 = Date()
                let indices = sampler.batch(at.batch, of: order)
                var random = SeededRandom(seed: options.seed)
                    .derived(UInt64(at.epoch) << 40 | UInt64(group.rank) << 24 | UInt64(at.batch))
                let (x, labels) = builder.make(train, indices, random: &random)
                let loss = try step(Batch(epoch: at.epoch, batch: at.batch, step: at.step, x: x, labels: labels))
                summary.seconds += Date().timeIntervalSince(t0)
                summary.samples += indices.count * world.size
                lossSum += loss
                lossCount += 1
                summary.loss = lossSum / Double(lossCount)
                at.batch += 1
                at.step += 1
                progress.step(epoch: at.epoch, of: options.epochs, batch: at.batch, of: sampler.batchesPerEpoch,
                              loss: summary.loss, samplesPerSecond: Double(summary.samples) / max(summary.seconds, 1e-9))
                if options.checkpointEvery > 0 && at.step % options.checkpointEvery == 0 && at.batch < sampler.batchesPerEpoch {
                    try save(at)
                }
            }
            at = Position(epoch: at.epoch + 1, batch: 0, step: at.step)
            try save(at)
            progress.epochDone(epoch: at.epoch, of: options.epochs, loss: summary.loss,
                               seconds: Date().timeIntervalSince(epochStart))
        }
        (summary.epochs, summary.steps) = (at.epoch, at.step)
        return summary
    }
}
