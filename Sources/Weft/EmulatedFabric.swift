import Foundation
import WeftTopology

/// Makes one machine behave like the described network: the executor runs a schedule
/// step by step and holds each step until the time the simulator predicts for it on the
/// network (path latency + bytes / fair share of the bottleneck, concurrent transfers
/// sharing links), stretched by `slowdown` so the emulated network is slower than the
/// host's memory and the real copies hide inside the hold. Measured times divided by
/// `slowdown` are then in the descriptor's units and comparable with `weft topo simulate`.
public final class EmulatedFabric {
    public let context: NetworkContext
    public let slowdown: Double
    private var holds: [HoldKey: [Double]] = [:]

    struct HoldKey: Hashable {
        var program: CompiledProgram.Key
        var bytes: Int
        var elementSize: Int
    }

    public init(context: NetworkContext, slowdown: Double) {
        self.context = context
        self.slowdown = slowdown
    }

    /// Seconds to hold each step of `schedule` for a message of `bytes`.
    func holds(for schedule: Schedule, key: CompiledProgram.Key, bytes: Int, elementSize: Int) -> [Double] {
        let holdKey = HoldKey(program: key, bytes: bytes, elementSize: elementSize)
        if let h = holds[holdKey] { return h }
        let h = context.simulator.stepTimes(schedule, bytes: bytes, elementSize: elementSize).map { $0 * slowdown }
        holds[holdKey] = h
        return h
    }

    /// Sleeps until `deadline` (MPI wall time), spinning only for the last 50 µs. Sleeps
    /// last at most 0.1 s each (usleep takes a UInt32 of microseconds), and a NaN deadline
    /// returns at once rather than spinning forever.
    static func wait(until deadline: Double, now: () -> Double) {
        while true {
            let left = deadline - now()
            guard left > 0 else { return }
            if left > 100e-6 {
                usleep(UInt32(min(left - 50e-6, 0.1) * 1e6))
            }
        }
    }
}
