import Foundation
import WeftTopology

/// The network a communicator's ranks run on, from a topology descriptor: which endpoint
/// each rank plays (the descriptor's placement for this many ranks), the plan `auto`
/// follows, and the simulator that topology-aware schedules and the emulated fabric use.
public final class NetworkContext {
    public let descriptor: Descriptor
    public let network: Network
    /// placement[rank] = endpoint index.
    public let placement: [Int]
    /// The planner's choice per collective and size on this network and rank count.
    public let plan: Plan
    let simulator: Simulator

    /// Loads `path` (TOML descriptor or Slurm topology.conf) for a job of `ranks` ranks.
    public init(path: String, ranks: Int) throws {
        descriptor = try Descriptor.load(path)
        network = try descriptor.build()
        placement = try Placement.endpoints(ranks: ranks, network: network, descriptor: descriptor)
        plan = try Plan.make(network: network, descriptor: descriptor, ranks: ranks)
        simulator = Simulator(network: network, router: Router(network: network, policy: descriptor.routing),
                              placement: placement)
    }

    /// The schedule of a topology-aware algorithm for these ranks.
    package func schedule(_ collective: Collective, _ algorithm: Algorithm) throws -> Schedule {
        try Schedules.make(collective, algorithm: algorithm, ranks: placement.count, network: network, placement: placement)
    }
}

extension Plan {
    /// The algorithm of the first rule covering a request on these buffers, if any.
    public func choose(_ collective: Collective, bytes: Int, buffers: BufferKind? = nil) -> Algorithm? {
        rules.first {
            $0.collective == collective && $0.minBytes <= bytes && bytes < $0.maxBytes
                && ($0.buffers == nil || buffers == nil || $0.buffers == buffers)
        }?.algorithm
    }
}
