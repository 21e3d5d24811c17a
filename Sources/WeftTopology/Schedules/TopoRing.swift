/// A ring in network order: ranks sorted by (group, switch, endpoint), so the ring leaves
/// each group and each switch once; on grid networks routers in snake order (each
/// dimension in an order its links close, reversed on alternate passes), so every hop of
/// the ring, the wrap-around included, is one link — rather than row by row, where each
/// row's end jumps back across the mesh. Suits any network (a plain ring on a flat one).
public enum TopoRing: ScheduleGenerator {
    public static let algorithm = Algorithm.topoRing
    public static let collectives: [Collective] = [.allreduce, .reduceScatter, .allgather]
    public static let requirement = ScheduleRequirement.topology

    public static func make(_ request: ScheduleRequest) throws -> Schedule {
        let n = request.network!, placement = request.placement!
        if n.kind.isGrid {
            let snake = TopologyGrid.snakeIndex(network: n)
            let order = (0..<request.ranks).sorted {
                (snake[n.switchOf[placement[$0]]], placement[$0]) < (snake[n.switchOf[placement[$1]]], placement[$1])
            }
            return Ring.ordered(request.collective, order: order, algorithm: algorithm)
        }
        let order = (0..<request.ranks).sorted {
            (n.groupOf[placement[$0]], n.switchOf[placement[$0]], placement[$0])
                < (n.groupOf[placement[$1]], n.switchOf[placement[$1]], placement[$1])
        }
        return Ring.ordered(request.collective, order: order, algorithm: algorithm)
    }
}
