/// Two levels by switch: a ring among the ranks on each switch, then rings across
/// switches on each rank's share, the two overlapped in halves where switches are wide
/// (`MultiLevel.overlapped`). Suits any network whose switches hold equally many ranks.
public enum Hierarchical: ScheduleGenerator {
    public static let algorithm = Algorithm.hierarchical
    public static let collectives: [Collective] = [.allreduce]
    public static let requirement = ScheduleRequirement.topology

    public static func make(_ request: ScheduleRequest) throws -> Schedule {
        let n = request.network!
        let grid = try TopologyGrid.grid(keys: request.placement!.map { [n.switchOf[$0]] }, algorithm: algorithm,
                                         modes: [.ring, .ring])
        return MultiLevel.overlapped(grid, algorithm: algorithm)
    }
}
