import Foundation
import WeftNN

/// Draws the ranks' random paths of one step so that they cost about the same, without
/// changing what any one rank samples.
///
/// With independent draws every step waits for the rank whose path is dearest: on our space
/// a path costs 50–120 ms and two independent draws finish, on average, 11 % after their
/// mean. Here each block's candidates are laid on a cycle ordered by measured cost — cheapest,
/// then every second one upwards, then the rest downwards — so neighbours on the cycle are at
/// most two places apart in cost. Per step and block one shared uniform draw `u` picks a spot,
/// and rank r takes the candidate r places further on. Each rank still sees every candidate
/// with probability 1/k per block, independently across blocks and steps (its marginal is
/// exactly the uniform one), so the expected update is that of independent sampling; ranks
/// also never repeat each other's candidate in a block while r < k.
struct PathBalancer {
    /// Per block: candidate indices in cycle order.
    let cycles: [[Int]]

    init(costs: [[Double]]) {
        cycles = costs.map { blockCosts in
            let sorted = blockCosts.indices.sorted { (blockCosts[$0], $0) < (blockCosts[$1], $1) }
            let upward = stride(from: 0, to: sorted.count, by: 2).map { sorted[$0] }
            let downward = stride(from: 1, to: sorted.count, by: 2).reversed().map { sorted[$0] }
            return upward + downward
        }
    }

    /// Rank `rank`'s path from a stream every rank draws identically.
    func path(rank: Int, shared random: inout SeededRandom) -> SearchSpace.Architecture {
        cycles.map { cycle in
            let u = Int(random.next() % UInt64(cycle.count))
            return cycle[(u + rank) % cycle.count]
        }
    }
}

extension Supernet {
    /// Milliseconds of one training forward and backward of each candidate of each block, on
    /// `batch` random inputs, the best of `repeats`. Gradients and batch-norm statistics are
    /// restored afterwards, so measuring leaves the supernet as it was.
    func measureCandidateCosts(batch: Int = 32, repeats: Int = 3) -> [[Double]] {
        let savedState = Array(model.store.state)
        defer {
            _ = model.store.state.update(fromContentsOf: savedState)
            model.store.zeroGradients()
        }
        var random = SeededRandom(seed: 7)
        return zip(space.blocks, choices).map { block, choice in
            let x = Tensor(shape: [batch] + block.inputShape,
                           data: (0..<(batch * block.inputShape.reduce(1, *))).map { _ in Float.random(in: -1..<1, using: &random) })
            return choice.candidates.map { candidate in
                var best = Double.infinity
                for _ in 0..<repeats {
                    let start = Date()
                    let y = candidate.forward(x, training: true)
                    _ = candidate.backward(Tensor(shape: y.shape, data: [Float](repeating: 1e-3, count: y.count)))
                    best = min(best, Date().timeIntervalSince(start) * 1000)
                }
                return best
            }
        }
    }
}
