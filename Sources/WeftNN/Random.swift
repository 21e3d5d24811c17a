/// A small, fast, seedable generator (SplitMix64) whose whole state is one UInt64, so it
/// can be checkpointed and restored exactly. Swift's standard library has no seeded RNG.
public struct SeededRandom: RandomNumberGenerator, Sendable, Equatable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    public mutating func unit() -> Float { Float(next() >> 40) * (1.0 / Float(1 << 24)) }

    /// Standard normal (Box–Muller).
    public mutating func normal() -> Float {
        let u1 = max(unit(), 1e-7), u2 = unit()
        return (-2 * _log(u1)).squareRoot() * _cos(2 * Float.pi * u2)
    }

    /// A stream derived from this seed and `index`, independent of the others.
    public func derived(_ index: UInt64) -> SeededRandom {
        var copy = SeededRandom(seed: state ^ (index &* 0xD1B5_4A32_D192_ED03))
        _ = copy.next()
        return copy
    }
}

@inline(__always) func _log(_ x: Float) -> Float { Float(Foundation.log(Double(x))) }
@inline(__always) func _cos(_ x: Float) -> Float { Float(Foundation.cos(Double(x))) }

import Foundation
