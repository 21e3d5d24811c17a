/// Updates a model's flat parameters from its flat gradients. State is flat too, so it
/// checkpoints as plain arrays.
public protocol Optimizer: AnyObject {
    var learningRate: Float { get set }
    /// One update of every parameter, optionally only where `mask` is true.
    func step(parameters: UnsafeMutableBufferPointer<Float>, gradients: UnsafeBufferPointer<Float>, mask: [Bool]?)
    /// Everything needed to continue bit-identically after a restart.
    var state: [Float] { get set }
}

/// SGD with momentum (optionally Nesterov) and L2 weight decay coupled into the gradient,
/// with PyTorch's update rule: v = μ·v + (g + λ·w); w −= lr·(Nesterov ? g + λw + μ·v : v).
public final class SGD: Optimizer {
    public var learningRate: Float
    public let momentum: Float
    public let nesterov: Bool
    public let weightDecay: Float
    private var velocity: [Float]

    public init(count: Int, learningRate: Float, momentum: Float = 0, nesterov: Bool = false, weightDecay: Float = 0) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.nesterov = nesterov
        self.weightDecay = weightDecay
        velocity = [Float](repeating: 0, count: count)
    }

    public var state: [Float] {
        get { velocity }
        set { velocity = newValue }
    }

    public func step(parameters w: UnsafeMutableBufferPointer<Float>, gradients g: UnsafeBufferPointer<Float>, mask: [Bool]?) {
        let lr = learningRate, mu = momentum, wd = weightDecay, nesterov = nesterov
        velocity.withUnsafeMutableBufferPointer { v in
            guard let mask else {
                // Branch-free loops the compiler vectorises: the common, unmasked case.
                if nesterov {
                    for i in 0..<w.count {
                        let d = g[i] + wd * w[i]
                        v[i] = mu * v[i] + d
                        w[i] -= lr * (d + mu * v[i])
                    }
                } else {
                    for i in 0..<w.count {
                        let d = g[i] + wd * w[i]
                        v[i] = mu * v[i] + d
                        w[i] -= lr * v[i]
                    }
                }
                return
            }
            for i in 0..<w.count where mask[i] {
                let d = g[i] + wd * w[i]
                v[i] = mu * v[i] + d
                w[i] -= lr * (nesterov ? d + mu * v[i] : v[i])
            }
        }
    }
}

/// AdamW (Loshchilov & Hutter): Adam moments with bias correction and weight decay applied
/// to the weights directly, decoupled from the gradient.
public final class AdamW: Optimizer {
    public var learningRate: Float
    public let beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float
    private var m: [Float], v: [Float], t: Float = 0

    public init(count: Int, learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
                weightDecay: Float = 0.01) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        m = [Float](repeating: 0, count: count)
        v = m
    }

    public var state: [Float] {
        get { [t] + m + v }
        set {
            let n = m.count
            t = newValue[0]
            m = Array(newValue[1...n])
            v = Array(newValue[(n + 1)...])
        }
    }

    public func step(parameters w: UnsafeMutableBufferPointer<Float>, gradients g: UnsafeBufferPointer<Float>, mask: [Bool]?) {
        t += 1
        let c1 = 1 - powf(beta1, t), c2 = 1 - powf(beta2, t)
        for i in 0..<w.count {
            if let mask, !mask[i] { continue }
            m[i] = beta1 * m[i] + (1 - beta1) * g[i]
            v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i]
            w[i] -= learningRate * (weightDecay * w[i] + (m[i] / c1) / ((v[i] / c2).squareRoot() + epsilon))
        }
    }
}

import Foundation

/// Learning rate as a function of the optimisation step.
public enum LearningRateSchedule: Equatable, Sendable {
    case constant
    /// Multiply by `gamma` every `every` steps.
    case step(every: Int, gamma: Float)
    /// Linear warm-up over `warmup` steps, then cosine decay to zero at `total`.
    case cosine(warmup: Int, total: Int)

    public func rate(base: Float, step: Int) -> Float {
        switch self {
        case .constant:
            return base
        case .step(let every, let gamma):
            return base * powf(gamma, Float(step / max(every, 1)))
        case .cosine(let warmup, let total):
            if step < warmup { return base * Float(step + 1) / Float(warmup) }
            let progress = Float(step - warmup) / Float(max(total - warmup, 1))
            return base * 0.5 * (1 + cosf(Float.pi * min(progress, 1)))
        }
    }
}
