import Foundation
import Weft
import WeftNN

/// Online co-distillation (Anil et al. 2018): G groups, each a data-parallel replica of its
/// own model on its own data order. Every `exchangeEvery` steps the groups swap their
/// current weights (one allgather among the groups' first ranks, then a broadcast inside
/// each group); in between, each rank runs the stale teacher copies on its own batch and,
/// after `burnIn` steps, adds distill_weight · KL(mean teacher ‖ self) at temperature T.
/// With `exchange = predictions` the groups instead swap their predictions on a shared
/// batch at each exchange and distil towards those until the next one.
extension GroupTrainer {
    func codistillationStep(_ x: Tensor, _ labels: [Int32], epoch: Int, step: Int) throws -> Double {
        let model = replica.model
        model.store.zeroGradients()
        let logits = model.forward(x, training: true)
        var (loss, gradient) = CrossEntropy.lossAndGradient(logits: logits, labels: labels)
        let distilling = groups.count > 1 && step >= group.burnIn && group.distillWeight != 0
        let t = group.temperature
        if distilling && group.exchange == "weights" && teachersReady {
            var mean = [Float](repeating: 0, count: logits.count)
            for teacher in teachers {
                let p = softmax(teacher.model.forward(x, training: false), temperature: t)
                for i in mean.indices { mean[i] += p[i] / Float(teachers.count) }
            }
            loss += addDistillation(student: logits, teacherProbabilities: mean, temperature: t,
                                    weight: group.distillWeight, into: &gradient)
        }
        model.backward(gradient)
        if distilling && group.exchange == "predictions", let shared = sharedBatch {
            // A second pass on the shared batch, towards the other groups' stale predictions.
            let sharedLogits = model.forward(shared.x, training: true)
            var sharedGradient = Tensor(zeros: sharedLogits.shape)
            loss += addDistillation(student: sharedLogits, teacherProbabilities: shared.probabilities, temperature: t,
                                    weight: group.distillWeight, into: &sharedGradient)
            model.backward(sharedGradient)
        }
        try replica.averageGradients(group: groups.group)
        var status = [Double(loss), loss.isFinite ? 0 : 1]
        if groups.size > 1 { try groups.group.allreduce(&status, op: .max, algorithm: .mpi) }
        if status[1] > 0 {
            var losses = [Float](repeating: 0, count: groups.count)
            losses[groups.index] = .nan
            try checkFinite(losses: losses, epoch: epoch, step: step)
        }
        replica.applyGradients(step: step)
        if groups.count > 1 && (step + 1) % group.exchangeEvery == 0 {
            if group.exchange == "weights" { try exchangeWeights() } else { try exchangePredictions(epoch: epoch, step: step) }
        }
        return Double(loss)
    }

    /// The groups' first ranks allgather every group's weights (padded to the largest
    /// model); each broadcasts them inside its group; everyone loads the stale teachers.
    private func exchangeWeights() throws {
        let sizes = group.models.indices.map { $0 == groups.index ? replica.snapshotCount
            : teachers[$0 < groups.index ? $0 : $0 - 1].snapshotCount }
        let block = sizes.max() ?? 0
        var all = [Float](repeating: 0, count: block * groups.count)
        let t0 = Runtime.wallTime()
        if groups.position == 0 {
            all.replaceSubrange((groups.index * block)..<(groups.index * block + replica.snapshotCount), with: replica.snapshot)
            try all.withUnsafeMutableBufferPointer { try groups.peers.allgather($0) }
            bytesAcross += block * 4 * (groups.count - 1)
        }
        secondsAcross += Runtime.wallTime() - t0
        if groups.size > 1 { try all.withUnsafeMutableBufferPointer { try replica.broadcastInGroup($0, group: groups.group) } }
        var k = 0
        for g in 0..<groups.count where g != groups.index {
            teachers[k].load(snapshot: all[(g * block)..<(g * block + sizes[g])])
            k += 1
        }
        teachersReady = true
    }

    /// Every group predicts a shared batch (same samples everywhere, from the common
    /// seed); the mean of the other groups' probabilities becomes the target.
    private func exchangePredictions(epoch: Int, step: Int) throws {
        let shared = try BatchSampler(samples: train.count, batchSize: options.batchSize, rank: groups.position,
                                      ranks: groups.size, seed: options.seed &+ 0x5EED)
        let order = shared.permutation(epoch: step)
        var random = SeededRandom(seed: options.seed).derived(UInt64(step))
        let (x, _) = BatchBuilder().make(train, shared.batch(0, of: order), random: &random)
        let p = softmax(replica.model.forward(x, training: false), temperature: group.temperature)
        var all = [Float](repeating: 0, count: p.count * groups.count)
        all.replaceSubrange((groups.index * p.count)..<((groups.index + 1) * p.count), with: p)
        let t0 = Runtime.wallTime()
        try all.withUnsafeMutableBufferPointer { try groups.peers.allgather($0) }
        secondsAcross += Runtime.wallTime() - t0
        bytesAcross += p.count * 4 * (groups.count - 1)
        var mean = [Float](repeating: 0, count: p.count)
        for g in 0..<groups.count where g != groups.index {
            for i in mean.indices { mean[i] += all[g * p.count + i] / Float(groups.count - 1) }
        }
        sharedBatch = (x, mean)
    }
}

// MARK: - Checkpoints

extension GroupTrainer {
    /// What co-distillation carries from step to step besides the model, for its
    /// checkpoint: the stale teachers' weights (once exchanged), or the shared batch and
    /// the other groups' probabilities on it (once exchanged); empty before the first exchange.
    var distillationState: [Float] {
        if group.exchange == "weights" { return teachersReady ? teachers.flatMap(\.snapshot) : [] }
        guard let shared = sharedBatch else { return [] }
        return shared.x.data + shared.probabilities
    }

    /// Takes back `distillationState` from the checkpoint at `path`.
    func restoreDistillation(_ saved: [Float], path: String) throws {
        guard !saved.isEmpty else { return }
        let damaged = TrainingError("checkpoint \(path) holds co-distillation state of another size; it was not loaded")
        if group.exchange == "weights" {
            guard saved.count == teachers.map(\.snapshotCount).reduce(0, +) else { throw damaged }
            var at = saved.startIndex
            for teacher in teachers {
                teacher.load(snapshot: saved[at..<(at + teacher.snapshotCount)])
                at += teacher.snapshotCount
            }
            teachersReady = true
        } else {
            // Per shared sample: its image, then the target probabilities.
            let perSample = train.sampleSize + replica.spec.classes
            guard saved.count % perSample == 0 else { throw damaged }
            let n = saved.count / perSample
            sharedBatch = (Tensor(shape: [n] + train.sampleShape, data: Array(saved.prefix(n * train.sampleSize))),
                           Array(saved.suffix(n * replica.spec.classes)))
        }
    }
}

extension Replica {
    /// Broadcast from the group's rank 0, counted as in-group traffic.
    func broadcastInGroup(_ buffer: UnsafeMutableBufferPointer<Float>, group: Communicator) throws {
        try group.broadcast(buffer, root: 0)
        countInGroup(bytes: buffer.count * 4)
    }
}
