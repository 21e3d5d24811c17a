/// Dimension by dimension on grid networks: inside each router, then along every
/// dimension on the share the earlier levels left. Torus and mesh dimensions run rings in
/// an order their links close (express links, or folded on a plain mesh line), alternating
/// direction between the rings that share a router's links; HyperX dimensions, all-to-all
/// linked, exchange pairwise. Wide routers overlap the router level with the others.
public enum TorusLevels: ScheduleGenerator {
    public static let algorithm = Algorithm.torus
    public static let collectives: [Collective] = [.allreduce]
    public static let requirement = ScheduleRequirement.topology
    public static let networks: [NetworkKind]? = [.torus, .hyperx, .expressMesh]

    public static func make(_ request: ScheduleRequest) throws -> Schedule {
        let n = request.network!
        let keys = request.placement!.map { n.coordinates[n.switchOf[$0]] }
        let dims = keys.first?.count ?? 0
        var grid = try TopologyGrid.grid(keys: keys, algorithm: algorithm,
                                         modes: [.ring] + Array(repeating: n.kind == .hyperx ? .pairwise : .ring, count: dims))
        grid.ringOrders = [[]] + (0..<dims).map { d in
            TopologyGrid.ringOrder(network: n, dimension: d, values: keys.map { $0[d] })
        }
        return MultiLevel.overlapped(grid, algorithm: algorithm)
    }
}
