import Foundation
import Weft
import WeftNN

/// Deep mutual learning (Zhang et al. 2018): every peer sees the same batch and minimises
/// cross-entropy + kl_weight · mean over the other peers of KL(p_other ‖ p_self) at
/// temperature T (T² scaled). The peers' logits for the batch — never the weights — travel
/// in one allgather per step among the ranks holding the same shard in every group; each
/// block also carries the peer's loss, so a diverging peer is known to all.
extension GroupTrainer {
    func mutualLearningStep(_ x: Tensor, _ labels: [Int32], epoch: Int, step: Int) throws -> Double {
        let model = replica.model
        model.store.zeroGradients()
        let logits = model.forward(x, training: true)
        var (loss, gradient) = CrossEntropy.lossAndGradient(logits: logits, labels: labels)
        let k = groups.count
        // One block per peer: its logits for this shard, then its cross-entropy.
        let block = logits.count + 1
        var all = [Float](repeating: 0, count: block * k)
        let mine = groups.index * block
        all.replaceSubrange(mine..<(mine + logits.count), with: logits.data)
        all[mine + logits.count] = loss
        if k > 1 {
            let t0 = Runtime.wallTime()
            try all.withUnsafeMutableBufferPointer { try groups.peers.allgather($0) }
            secondsAcross += Runtime.wallTime() - t0
            bytesAcross += block * 4 * (k - 1)
        }
        try checkFinite(losses: (0..<k).map { all[$0 * block + logits.count] }, epoch: epoch, step: step)
        if k > 1 && group.distillWeight != 0 {
            let t = group.temperature
            let weight = group.distillWeight / Float(k - 1)
            for peer in 0..<k where peer != groups.index {
                let other = Tensor(shape: logits.shape, data: Array(all[(peer * block)..<(peer * block + logits.count)]))
                loss += addDistillation(student: logits, teacherProbabilities: softmax(other, temperature: t),
                                        temperature: t, weight: weight, into: &gradient)
            }
        }
        model.backward(gradient)
        try replica.averageGradients(group: groups.group)
        replica.applyGradients(step: step)
        return Double(loss)
    }
}
