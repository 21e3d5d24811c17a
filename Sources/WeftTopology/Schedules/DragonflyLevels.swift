/// Dragonfly levels: a ring inside each router, a pairwise exchange among the routers of
/// a group (all-to-all linked: spread over every local link rather than 4 rings on one),
/// then a rotated pairwise exchange across groups, whose concurrent transfers each take a
/// different global link. Wide routers (dragonfly+ leaves) overlap the router level.
public enum DragonflyLevels: ScheduleGenerator {
    public static let algorithm = Algorithm.dragonfly
    public static let collectives: [Collective] = [.allreduce]
    public static let requirement = ScheduleRequirement.topology
    public static let networks: [NetworkKind]? = [.dragonfly, .dragonflyPlus]

    public static func make(_ request: ScheduleRequest) throws -> Schedule {
        let n = request.network!
        // Keys (router in group, group): coordinates are [group, router].
        let keys = request.placement!.map { e -> [Int] in
            let s = n.switchOf[e]
            return [n.coordinates[s][1], n.coordinates[s][0]]
        }
        let grid = try TopologyGrid.grid(keys: keys, algorithm: algorithm, modes: [.ring, .pairwise, .pairwise])
        return MultiLevel.overlapped(grid, algorithm: algorithm)
    }
}
