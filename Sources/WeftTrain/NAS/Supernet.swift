import Foundation
import WeftNN

/// The weight-sharing supernet of a search space: one model holding every candidate of
/// every block, an architecture selected by setting each block's `Choice`, and what a
/// path touches (for averaging shared weights only over the ranks that used them).
final class Supernet {
    let space: SearchSpace
    let model: Model
    /// The blocks' choice layers, in block order.
    let choices: [Choice]
    let batchNorms: [BatchNorm]

    init(space: SearchSpace, seed: UInt64) throws {
        self.space = space
        model = try Model(spec: try space.supernetSpec(), seed: seed)
        var choices: [Choice] = [], norms: [BatchNorm] = []
        func visit(_ layer: Layer) {
            switch layer {
            case let c as Choice:
                choices.append(c)
                c.candidates.forEach(visit)
            case let s as Sequential: s.layers.forEach(visit)
            case let r as Residual: visit(r.body)
            case let b as BatchNorm: norms.append(b)
            default: break
            }
        }
        visit(model.network)
        guard choices.count == space.blocks.count else {
            throw TrainingError("supernet has \(choices.count) choice blocks for \(space.blocks.count) blocks")
        }
        self.choices = choices
        batchNorms = norms
    }

    func select(_ architecture: SearchSpace.Architecture) {
        for (choice, index) in zip(choices, architecture) { choice.active = index }
    }

    /// Per (block, candidate): whether `architecture` uses it, flattened block-major.
    func usage(_ architecture: SearchSpace.Architecture) -> [Float] {
        var used: [Float] = []
        for (b, choice) in choices.enumerated() {
            for k in choice.candidates.indices { used.append(architecture[b] == k ? 1 : 0) }
        }
        return used
    }

    /// Scales summed gradients by the number of ranks that touched each parameter
    /// (`counts` per candidate as `usage` lays them out, summed over ranks; shared
    /// parameters by `ranks`) and returns the mask of parameters anyone touched.
    func averageTouched(gradients: UnsafeMutableBufferPointer<Float>, counts: [Float], ranks: Int) -> [Bool] {
        var mask = [Bool](repeating: true, count: gradients.count)
        var scale = [Float](repeating: 1 / Float(ranks), count: gradients.count)
        var k = 0
        for choice in choices {
            for range in choice.parameterRanges {
                let c = counts[k]
                for i in range {
                    mask[i] = c > 0
                    scale[i] = c > 0 ? 1 / c : 0
                }
                k += 1
            }
        }
        for i in 0..<gradients.count { gradients[i] *= scale[i] }
        return mask
    }

    /// Batch-norm statistics re-estimated for the selected path from `batches` (a plain
    /// mean over them), as one-shot methods do before scoring a path with inherited weights.
    func recalibrate(_ batches: [Tensor]) {
        for (n, x) in batches.enumerated() {
            for norm in batchNorms { norm.momentum = 1 / Float(n + 1) }
            _ = model.forward(x, training: true)
        }
        for norm in batchNorms { norm.momentum = 0.1 }
    }

    /// Accuracy of the selected path on `data` (inference mode).
    func accuracy(_ data: Dataset, indices: [Int]) -> Double {
        var correct = 0
        var random = SeededRandom(seed: 0)
        for start in stride(from: 0, to: indices.count, by: 500) {
            let (x, labels) = BatchBuilder().make(data, indices[start..<min(start + 500, indices.count)], random: &random)
            correct += CrossEntropy.evaluate(logits: model.forward(x, training: false), labels: labels).correct
        }
        return Double(correct) / Double(max(indices.count, 1))
    }
}
