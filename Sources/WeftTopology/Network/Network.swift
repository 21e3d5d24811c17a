/// A network as a graph: endpoints (where ranks run) are nodes 0..<endpoints, switches or
/// routers follow. Every cable is one undirected link with a class; traffic uses it as two
/// directed channels (full duplex), channel 2·link for a→b and 2·link+1 for b→a.
public struct Network: Sendable {
    public struct LinkClass: Sendable, Equatable {
        public var name: String
        /// Bytes per second per direction.
        public var bandwidth: Double
        /// Seconds per traversal.
        public var latency: Double
        /// Price of one cable of this class (cost model).
        public var price: Double
        public var optical: Bool
    }

    public struct Link: Sendable {
        public var a: Int
        public var b: Int
        public var linkClass: Int
    }

    public var kind: NetworkKind
    public var endpointNames: [String]
    public var switchNames: [String]
    public var classes: [LinkClass]
    public var links: [Link] = []
    /// Per node: (neighbour, link index).
    public var adjacency: [[(node: Int, link: Int)]]
    /// Per endpoint: its group for hierarchical algorithms (router/leaf switch) and its
    /// higher-level group (dragonfly group, pod), used by topology-aware schedules.
    public var switchOf: [Int]
    public var groupOf: [Int]
    /// Kind-specific coordinates of each switch (torus / HyperX position; dragonfly [group, router]).
    public var coordinates: [[Int]] = []
    /// Per-switch price of one port (cost model).
    public var portPrice: Double = 300
    /// How ranks sharing an endpoint (the cores of a host behind one NIC) exchange data: a
    /// memory copy, not a network link. The simulator gives each endpoint one channel of this
    /// class that all its ranks' copies share (`[links.memory]`, default 10 GB/s, 200 ns).
    public var memory = LinkClass(name: "memory", bandwidth: 10e9, latency: 200e-9, price: 0, optical: false)

    public var endpoints: Int { endpointNames.count }
    public var switches: Int { switchNames.count }
    public var nodes: Int { endpoints + switches }

    public init(kind: NetworkKind, endpoints: [String], switches: [String], classes: [LinkClass]) {
        self.kind = kind
        endpointNames = endpoints
        switchNames = switches
        self.classes = classes
        adjacency = Array(repeating: [], count: endpoints.count + switches.count)
        switchOf = Array(repeating: -1, count: endpoints.count)
        groupOf = Array(repeating: 0, count: endpoints.count)
    }

    /// Node index of switch `s`.
    public func node(ofSwitch s: Int) -> Int { endpoints + s }
    public func isEndpoint(_ node: Int) -> Bool { node < endpoints }

    public mutating func connect(_ a: Int, _ b: Int, linkClass: Int) {
        let index = links.count
        links.append(Link(a: a, b: b, linkClass: linkClass))
        adjacency[a].append((b, index))
        adjacency[b].append((a, index))
        if a < endpoints && b >= endpoints && switchOf[a] < 0 { switchOf[a] = b - endpoints }
        if b < endpoints && a >= endpoints && switchOf[b] < 0 { switchOf[b] = a - endpoints }
    }

    /// Directed channel for traversing `link` from node `from`.
    @inline(__always) public func channel(_ link: Int, from: Int) -> Int { links[link].a == from ? 2 * link : 2 * link + 1 }

    /// Channels the simulator uses: two per link, then one memory channel per endpoint.
    public var channelCount: Int { 2 * links.count + endpoints }
    /// The channel copies between ranks on `endpoint` go through.
    public func memoryChannel(_ endpoint: Int) -> Int { 2 * links.count + endpoint }

    public func bandwidth(ofChannel c: Int) -> Double {
        c < 2 * links.count ? classes[links[c / 2].linkClass].bandwidth : memory.bandwidth
    }
    public func latency(ofChannel c: Int) -> Double {
        c < 2 * links.count ? classes[links[c / 2].linkClass].latency : memory.latency
    }
}
