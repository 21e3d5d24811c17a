import Foundation
import Weft
import WeftNN

/// Checkpoints of the shared loop: one file per replica (dp's `checkpoint.weft`, a peer's
/// `peer-G.weft`) holding weights, batch-norm statistics, optimizer state, every group
/// rank's generator states, the position and the method's state, so a resumed run ends
/// bit-identical to an uninterrupted one; `settings.json` beside them.
extension TrainingLoop {
    /// Where the run starts: with `--resume` and a checkpoint, its position (every rank's
    /// checkpoint must be from the same step); otherwise the beginning, the group's rank 0
    /// weights sent to the rest of the group.
    func start() throws -> Position {
        var restored: Position?
        var notes: [String] = []
        var failure: Error?
        if options.resume, let path = checkpointPath, FileManager.default.fileExists(atPath: path) {
            do {
                restored = try restore(from: path)
                notes = try options.checkResumeSettings(in: options.checkpointDirectory!, method: methodSettings)
                // After the settings: a contradicting one explains a position that does not fit.
                try checkPosition(restored!, path)
            } catch {
                failure = error
            }
        } else if let directory = options.checkpointDirectory {
            do { try options.checkFolderMethod(in: directory, method: methodSettings) } catch { failure = error }
        }
        try shareFailure(failure)
        var steps = [restored?.step ?? -1, -(restored?.step ?? -1)]
        try world.allreduce(&steps, op: .max, algorithm: .mpi)
        guard steps[0] == -steps[1] else {
            let describe = { (step: Int) in step < 0 ? "one missing" : "step \(step)" }
            throw TrainingError("the peers' checkpoints in \(options.checkpointDirectory ?? "") are from different steps "
                + "(\(describe(-steps[1])), \(describe(steps[0]))); they were not loaded: resuming needs every peer's "
                + "checkpoint from one step (start a new --checkpoint folder)")
        }
        guard let restored, let path = checkpointPath else {
            try replica.synchronize(group: group)
            return Position()
        }
        for note in notes { progress.note(note) }
        if restored.epoch == options.epochs {
            // Re-running a finished job's command (a scheduler's retry) is not an error:
            // nothing is trained or written, and the job reports the checkpoint's model.
            progress.note("\(path) has finished all \(options.epochs) epochs (step \(restored.step)); nothing left to "
                + "train (raise --epochs to train further)")
        } else {
            progress.note("resuming from \(path) at epoch \(restored.epoch + 1), batch \(restored.batch + 1) (step \(restored.step))")
        }
        return restored
    }

    /// The group's rank 0 writes the replica's checkpoint (atomically), the job's rank 0 the
    /// settings beside it.
    func save(_ position: Position) throws {
        guard let path = checkpointPath else { return }
        let model = replica.model
        try replica.synchronizeStatistics(group: group)
        // Every group rank's generator states, gathered so its rank 0 can write them all.
        let mine = model.network.randomStates.map { Int64(bitPattern: $0) }
        var all = [Int64](repeating: 0, count: mine.count * group.size)
        for (i, v) in mine.enumerated() { all[group.rank * mine.count + i] = v }
        if !mine.isEmpty { try all.withUnsafeMutableBufferPointer { try group.allgather($0, algorithm: .mpi) } }
        if group.rank == 0 {
            let checkpoint = Checkpoint(signature: model.signature, epoch: position.epoch, batchInEpoch: position.batch,
                                        step: position.step, parameters: Array(model.store.values),
                                        state: Array(model.store.state), optimizer: replica.optimizer.state,
                                        randomStates: [UInt64(world.size)] + all.map { UInt64(bitPattern: $0) },
                                        methodState: saveMethodState(), batchSize: options.batchSize,
                                        samples: train.count)
            try checkpoint.write(to: path)
        }
        if world.rank == 0 { try options.writeResumeSettings(in: options.checkpointDirectory!, method: methodSettings) }
        try world.barrier(algorithm: .mpi)
    }

    /// Loads the checkpoint at `path` into the replica after checking it belongs to this
    /// model, job size and optimizer; returns its position.
    func restore(from path: String) throws -> Position {
        let checkpoint = try Checkpoint.read(from: path)
        let model = replica.model
        guard checkpoint.signature == model.signature else {
            throw TrainingError("checkpoint \(path) was written for a different model than \(replica.spec.name); "
                + "it was not loaded (use another --checkpoint directory or the same --model)")
        }
        // Supernets written before they resumed kept only their final weights.
        guard !checkpoint.randomStates.isEmpty else {
            throw TrainingError("checkpoint \(path) holds final weights only, no training state to resume from; "
                + "start a new --checkpoint folder")
        }
        let sizesDiffer = TrainingError("checkpoint \(path) does not match the model's sizes; it was not loaded")
        guard checkpoint.parameters.count == model.parameterCount, checkpoint.state.count == model.store.stateCount,
              let ranks = checkpoint.randomStates.first
        else { throw sizesDiffer }
        guard Int(ranks) == world.size else {
            throw TrainingError("checkpoint \(path) was written by a \(ranks)-rank job; resume it with \(ranks) ranks")
        }
        let perRank = model.network.randomStates.count
        guard checkpoint.randomStates.count == 1 + group.size * perRank else { throw sizesDiffer }
        guard checkpoint.epoch <= options.epochs else {
            throw TrainingError("checkpoint \(path) is at epoch \(checkpoint.epoch), beyond --epochs \(options.epochs)")
        }
        guard checkpoint.optimizer.count == replica.optimizer.state.count else {
            throw TrainingError("checkpoint \(path) holds state of another optimizer than --optimizer \(options.optimizer); it was not loaded")
        }
        try restoreMethodState(checkpoint.methodState, path)
        _ = model.store.values.update(fromContentsOf: checkpoint.parameters)
        _ = model.store.state.update(fromContentsOf: checkpoint.state)
        replica.optimizer.state = checkpoint.optimizer
        if perRank > 0 {
            let states = checkpoint.randomStates.dropFirst()
            model.network.randomStates = Array(states.dropFirst(group.rank * perRank).prefix(perRank))
        }
        written = (checkpoint.batchSize, checkpoint.samples)
        return Position(epoch: checkpoint.epoch, batch: checkpoint.batchInEpoch, step: checkpoint.step)
    }

    /// Refuses a checkpoint of another data order (`written`, when the file records it) or
    /// a position this run's epochs never reach: a batch at or past the
    /// end of the epoch would train nothing (another --batch-size or --train-limit, with
    /// settings.json gone), and a step count that is not epoch × batches + batch means the
    /// epochs were cut otherwise. Either way the data order would not continue.
    func checkPosition(_ at: Position, _ path: String) throws {
        // Files since version 3 say which order they count in (0: older, unknown).
        if written.batchSize > 0 && (written.batchSize != options.batchSize || written.samples != train.count) {
            throw TrainingError("checkpoint \(path) was written with --batch-size \(written.batchSize) over "
                + "\(written.samples) training images, this run has \(options.batchSize) over \(train.count); resume "
                + "with its --batch-size and --train-limit or start a new --checkpoint folder")
        }
        let batches = sampler.batchesPerEpoch
        let (before, overflow) = at.epoch.multipliedReportingOverflow(by: batches)
        guard at.batch < batches, !overflow, at.step == before + at.batch, at.epoch < options.epochs || at.batch == 0 else {
            throw TrainingError("checkpoint \(path) is at epoch \(at.epoch + 1), batch \(at.batch + 1), step \(at.step), "
                + "which this run's epochs of \(batches) batches never reach; it was written with another --batch-size "
                + "or --train-limit: resume with those or start a new --checkpoint folder")
        }
    }

    /// Makes one rank's failure every rank's: a peer's checkpoint is read by its group only,
    /// yet the whole job must stop with its message, said once (by rank 0), not hang.
    private func shareFailure(_ failure: Error?) throws {
        var first = [failure == nil ? world.size : world.rank]
        try world.allreduce(&first, op: .min, algorithm: .mpi)
        let speaker = first[0]
        guard speaker < world.size else { return }
        var text = (world.rank == speaker ? Array("\(failure!)".utf8) : []).map { Int32($0) }
        var count = [text.count]
        try world.broadcast(&count, root: speaker, algorithm: .mpi)
        if world.rank != speaker { text = [Int32](repeating: 0, count: count[0]) }
        if count[0] > 0 { try world.broadcast(&text, root: speaker, algorithm: .mpi) }
        if let failure { throw failure }
        throw TrainingError(String(decoding: text.map { UInt8($0) }, as: UTF8.self))
    }
}
