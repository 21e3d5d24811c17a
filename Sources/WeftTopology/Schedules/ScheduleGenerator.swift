/// What a generator needs besides the rank count.
public enum ScheduleRequirement: Sendable {
    /// Only the rank count (ring, trees, …).
    case ranks
    /// A network and each rank's endpoint on it (a topology descriptor).
    case topology
    /// Which ranks share a node (a communicator learns it from MPI).
    case nodeLayout
}

/// A request for one schedule: the collective and ranks, and what the generator may need.
public struct ScheduleRequest: Sendable {
    public var collective: Collective
    public var ranks: Int
    public var root: Int
    /// What the generator's `segments(for:bytes:ranks:)` said for the message's size: pieces
    /// a pipelining generator splits it into (1 for the others).
    public var segments: Int
    public var network: Network?
    /// placement[rank] = the rank's endpoint on `network`.
    public var placement: [Int]?
    /// nodes[n] = the ranks on node n.
    public var nodes: [[Int]]?
}

/// One algorithm: the collectives it serves, the networks it suits and how it is built.
/// Adding an algorithm is one file conforming to this and one entry in
/// `Schedules.generators` (plus its name in `Algorithm`).
public protocol ScheduleGenerator: Sendable {
    static var algorithm: Algorithm { get }
    static var collectives: [Collective] { get }
    static var requirement: ScheduleRequirement { get }
    /// Network kinds the planner weighs it on (nil: every kind).
    static var networks: [NetworkKind]? { get }
    /// Whether it splits a message of `collective` into segments (`Schedules.segments`).
    static func pipelines(_ collective: Collective) -> Bool
    /// The request's `segments` for a message of `bytes`: `Schedules.pipelineSegments` where
    /// it pipelines, else 1. A generator whose schedule changes with size in another way
    /// returns its own size class here, so that every cache and prediction keyed on the
    /// segments tells the shapes apart.
    static func segments(for collective: Collective, bytes: Int, ranks: Int) -> Int
    /// Builds the schedule; the request has passed `Schedules.make`'s checks (collective
    /// served, root in range, what `requirement` names present).
    static func make(_ request: ScheduleRequest) throws -> Schedule
}

extension ScheduleGenerator {
    public static var networks: [NetworkKind]? { nil }
    public static func pipelines(_ collective: Collective) -> Bool { false }
    public static func segments(for collective: Collective, bytes: Int, ranks: Int) -> Int {
        pipelines(collective) ? Schedules.pipelineSegments(for: collective, bytes: bytes, ranks: ranks) : 1
    }
}

/// A generator that needs only the rank count.
public protocol FlatScheduleGenerator: ScheduleGenerator {
    static func make(_ collective: Collective, ranks: Int, root: Int, segments: Int) -> Schedule
}

extension FlatScheduleGenerator {
    public static var requirement: ScheduleRequirement { .ranks }
    public static func make(_ request: ScheduleRequest) throws -> Schedule {
        make(request.collective, ranks: request.ranks, root: request.root, segments: request.segments)
    }
}
