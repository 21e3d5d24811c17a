/// A ring in network order: ranks sorted by (group, switch, endpoint), so the ring leaves
/// each group and each switch once. Suits any network (a plain ring on a flat one).
public enum TopoRing: ScheduleGenerator {
    public static let algorithm = Algorithm.topoRing
    public static let collectives: [Collective] = [.allreduce, .reduceScatter, .allgather]
    public static let requirement = ScheduleRequirement.topology

    public static func make(_ request: ScheduleRequest) throws -> Schedule {
        let n = request.network!, placement = request.placement!
        let order = (0..<request.ranks).sorted {
            (n.groupOf[placement[$0]], n.switchOf[placement[$0]], placement[$0])
                < (n.groupOf[placement[$1]], n.switchOf[placement[$1]], placement[$1])
        }
        return Ring.ordered(request.collective, order: order, algorithm: algorithm)
    }
}
