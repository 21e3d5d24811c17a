/// The kinds of network a descriptor names (`kind = "…"`). Slurm topology files and
/// graphs listed switch by switch are `custom`. Generators declare the kinds they suit
/// with it, so no code matches kind names as strings.
public enum NetworkKind: String, CaseIterable, Sendable, Codable, CustomStringConvertible {
    case singleNode = "single-node"
    case fatTree = "fat-tree"
    case torus
    case dragonfly
    case dragonflyPlus = "dragonfly-plus"
    case hyperx
    case expressMesh = "express-mesh"
    case custom

    /// Routers at integer coordinates, linked along each dimension.
    public var isGrid: Bool { self == .torus || self == .hyperx || self == .expressMesh }
    /// Groups of routers joined by global links; coordinates are [group, router].
    public var isDragonfly: Bool { self == .dragonfly || self == .dragonflyPlus }

    public var description: String { rawValue }
    /// The names, for messages.
    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }
}
