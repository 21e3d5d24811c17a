import Foundation

/// Row-wise softmax of logits [N, K] divided by `temperature`, computed stably.
public func softmax(_ logits: Tensor, temperature: Float = 1) -> [Float] {
    let k = logits.sampleSize
    var p = [Float](repeating: 0, count: logits.count)
    for s in 0..<logits.batch {
        let row = s * k
        var m = -Float.infinity
        for j in 0..<k { m = max(m, logits.data[row + j] / temperature) }
        var sum: Float = 0
        for j in 0..<k {
            let e = expf(logits.data[row + j] / temperature - m)
            p[row + j] = e
            sum += e
        }
        for j in 0..<k { p[row + j] /= sum }
    }
    return p
}

/// Softmax cross-entropy with integer labels, averaged over the batch.
public enum CrossEntropy {
    /// The mean loss and its gradient with respect to the logits.
    public static func lossAndGradient(logits: Tensor, labels: [Int32]) -> (loss: Float, gradient: Tensor) {
        let n = logits.batch, k = logits.sampleSize
        var p = softmax(logits)
        var loss: Double = 0
        for s in 0..<n {
            let y = Int(labels[s])
            loss -= Double(logf(max(p[s * k + y], 1e-30)))
            p[s * k + y] -= 1
        }
        let scale = 1 / Float(n)
        return (Float(loss / Double(n)), Tensor(shape: logits.shape, data: p.map { $0 * scale }))
    }

    /// Summed loss and the number of correct argmax predictions (for evaluation).
    public static func evaluate(logits: Tensor, labels: [Int32]) -> (lossSum: Double, correct: Int) {
        let k = logits.sampleSize
        let p = softmax(logits)
        var loss: Double = 0, correct = 0
        for s in 0..<logits.batch {
            let y = Int(labels[s])
            loss -= Double(logf(max(p[s * k + y], 1e-30)))
            var best = 0
            for j in 1..<k where logits.data[s * k + j] > logits.data[s * k + best] { best = j }
            if best == y { correct += 1 }
        }
        return (loss, correct)
    }
}

/// KL(p_teacher ‖ p_student) between softened distributions p = softmax(z / T), scaled by
/// T² (Hinton et al.) so gradient magnitudes do not shrink with the temperature; averaged
/// over the batch. The gradient is with respect to the student's logits only.
public enum KLDivergence {
    public static func lossAndGradient(student: Tensor, teacher: Tensor, temperature t: Float) -> (loss: Float, gradient: Tensor) {
        let n = student.batch
        let ps = softmax(student, temperature: t), pt = softmax(teacher, temperature: t)
        var loss: Double = 0
        var grad = [Float](repeating: 0, count: ps.count)
        let scale = t / Float(n)
        for i in ps.indices {
            if pt[i] > 0 { loss += Double(pt[i]) * Double(logf(pt[i]) - logf(max(ps[i], 1e-30))) }
            grad[i] = (ps[i] - pt[i]) * scale
        }
        return (Float(loss / Double(n)) * t * t, Tensor(shape: student.shape, data: grad))
    }
}
