import Weft
import WeftTopology

/// Ranks cut into G equal groups for training methods with several models: inside a group
/// the ranks are data-parallel replicas (gradient allreduce on `group`, every step); ranks
/// at the same position in every group form `peers` (one per group), which carries the
/// rare or small cross-group traffic.
///
/// With a topology, ranks are ordered by (network group, switch, endpoint) of where they
/// run before cutting, so a group fills a switch or a dragonfly group first and only the
/// cross-group exchange crosses expensive links.
public final class PeerGroups {
    public let count: Int
    public let index: Int
    public let position: Int
    public let size: Int
    public let group: Communicator
    public let peers: Communicator
    /// groupOf[rank] for every world rank.
    public let groupOf: [Int]

    public init(world: Communicator, groups: Int) throws {
        guard groups >= 1 && groups <= world.size else {
            throw TrainingError("\(groups) groups need at least \(groups) ranks, but the job has \(world.size); "
                + "run more ranks (mpirun -np \(max(groups, 1))) or ask for fewer groups")
        }
        guard world.size % groups == 0 else {
            throw TrainingError("\(groups) groups do not divide \(world.size) ranks; use a rank count that is a multiple of \(groups)")
        }
        count = groups
        size = world.size / groups
        let order = PeerGroups.networkOrder(world)
        var groupOf = [Int](repeating: 0, count: world.size), positionOf = [Int](repeating: 0, count: world.size)
        for (k, rank) in order.enumerated() {
            groupOf[rank] = k / size
            positionOf[rank] = k % size
        }
        self.groupOf = groupOf
        index = groupOf[world.rank]
        position = positionOf[world.rank]
        guard let group = try world.split(color: index, key: position),
              let peers = try world.split(color: position, key: index)
        else { throw TrainingError("splitting the communicator into \(groups) groups failed") }
        self.group = group
        self.peers = peers
    }

    /// World ranks in network order (by group, switch, endpoint) when a topology is known.
    static func networkOrder(_ world: Communicator) -> [Int] {
        guard let context = world.network else { return Array(0..<world.size) }
        let n = context.network, p = context.placement
        return (0..<world.size).sorted {
            (n.groupOf[p[$0]], n.switchOf[p[$0]], p[$0]) < (n.groupOf[p[$1]], n.switchOf[p[$1]], p[$1])
        }
    }
}
