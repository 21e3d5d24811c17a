/// Builds the graph a descriptor describes, checking its parameters.
extension Descriptor {
    public func build() throws -> Network {
        let file = self.file
        func fail(_ key: String, _ message: String) -> TopologyError { TopologyError(file: file, key: key, message) }
        func int(_ key: String, default value: Int? = nil) throws -> Int {
            if let v = integers[key] { return v }
            guard let value else { throw fail(key, "missing; \(kind) needs it") }
            return value
        }
        // `memory` is a link class of single-node and custom networks only; elsewhere it
        // describes copies between ranks of one endpoint (`Network.memory`).
        var classNames = Array(classes.keys).sorted().filter { $0 != "memory" || [.singleNode, .custom].contains(kind) }
        if kind == .custom && classes["terminal"] == nil {
            classNames.append("terminal")
        }
        var classList = classNames.map {
            classes[$0] ?? Network.LinkClass(name: $0, bandwidth: 25e9, latency: 100e-9, price: 30, optical: false)
        }
        func cls(_ name: String) -> Int { classNames.firstIndex(of: name)! }
        try checkSize()
        var network: Network
        switch kind {
        case .singleNode:
            let n = try int("endpoints", default: 2)
            network = Network(kind: kind, endpoints: (0..<n).map { "core\($0)" }, switches: ["node"], classes: classList)
            for e in 0..<n { network.connect(e, network.node(ofSwitch: 0), linkClass: cls("memory")) }
        case .fatTree:
            network = try buildFatTree(k: int("k"), levels: int("levels", default: 3), classList: &classList, cls: cls)
        case .torus, .hyperx, .expressMesh:
            guard !dimensions.isEmpty else { throw fail("dims", "missing; e.g. dims = \"4x4x4\"") }
            let p = try int("p", default: 1)
            if kind == .torus && !wrap.isEmpty && wrap.count != dimensions.count && wrap.count != 1 {
                throw fail("wrap", "has \(wrap.count) entries for \(dimensions.count) dimensions")
            }
            if kind == .expressMesh, let e = integers["express"], e < 2 {
                throw fail("express", "must be at least 2 (an express link skips ahead that many routers), got \(e)")
            }
            network = buildGrid(p: p, cls: cls, classList: classList)
        case .dragonfly:
            let p = try int("p"), a = try int("a"), h = try int("h")
            let g = try int("g", default: a * h + 1)
            guard g <= a * h + 1 else { throw fail("g", "g = \(g) exceeds a·h+1 = \(a * h + 1); use g ≤ \(a * h + 1)") }
            guard g >= 2 else { throw fail("g", "a dragonfly needs at least 2 groups") }
            network = buildDragonfly(p: p, a: a, h: h, g: g, cls: cls, classList: classList)
        case .dragonflyPlus:
            let p = try int("p"), leaves = try int("leaves"), spines = try int("spines"), h = try int("h")
            let g = try int("g", default: spines * h + 1)
            guard g <= spines * h + 1 else {
                throw fail("g", "g = \(g) exceeds spines·h+1 = \(spines * h + 1); use g ≤ \(spines * h + 1)")
            }
            network = buildDragonflyPlus(p: p, leaves: leaves, spines: spines, h: h, g: g, cls: cls, classList: classList)
        case .custom:
            network = try buildCustom(cls: cls, classList: classList)
        }
        network.portPrice = portPrice
        if let memory = classes["memory"] { network.memory = memory }
        try network.checkConnected(file: file)
        return network
    }

    /// Endpoints Weft models at most (a 1M-endpoint graph takes a few GB to route).
    public static let maximumEndpoints = 1_000_000

    /// Refuses descriptors too large to model before any memory is spent on them.
    private func checkSize() throws {
        func product(_ factors: [Int]) -> Int {
            factors.reduce(1) { a, b in
                let (r, overflow) = a.multipliedReportingOverflow(by: max(b, 0))
                return overflow ? Int.max : r
            }
        }
        let n: Int
        switch kind {
        case .singleNode: n = integers["endpoints"] ?? 2
        case .fatTree:
            let k = integers["k"] ?? 0
            n = (integers["levels"] ?? 3) == 2 ? product([k, k]) / 2 : product([k, k, k]) / 4
        case .torus, .hyperx, .expressMesh: n = product([integers["p"] ?? 1] + dimensions)
        case .dragonfly:
            let a = integers["a"] ?? 0, h = integers["h"] ?? 0
            n = product([integers["p"] ?? 0, a, integers["g"] ?? product([a, h]) &+ 1])
        case .dragonflyPlus:
            let spines = integers["spines"] ?? 0, h = integers["h"] ?? 0
            n = product([integers["p"] ?? 0, integers["leaves"] ?? 0, integers["g"] ?? product([spines, h]) &+ 1])
        case .custom: n = customEndpoints.count
        }
        if n > Descriptor.maximumEndpoints {
            throw TopologyError(file: file, "describes \(n == Int.max ? "more than 2^63" : String(n)) endpoints; "
                + "Weft models up to \(Descriptor.maximumEndpoints), so use smaller parameters")
        }
    }

    private func buildFatTree(k: Int, levels: Int, classList: inout [Network.LinkClass], cls: (String) -> Int) throws
        -> Network
    {
        guard k >= 2 && k % 2 == 0 else {
            throw TopologyError(file: file, key: "k", "must be an even number ≥ 2 (switch ports), got \(k)")
        }
        guard levels == 2 || levels == 3 else {
            throw TopologyError(file: file, key: "levels", "must be 2 (leaf-spine) or 3 (k-ary fat tree), got \(levels)")
        }
        // Oversubscription r:1 thins the fabric: its links carry 1/r of the host bandwidth.
        classList[cls("fabric")].bandwidth /= oversubscription
        let half = k / 2
        if levels == 2 {
            // Leaf-spine: k leaves of k/2 hosts, k/2 spines, every leaf to every spine.
            let hosts = k * half
            var n = Network(kind: kind, endpoints: (0..<hosts).map { "h\($0)" },
                            switches: (0..<k).map { "leaf\($0)" } + (0..<half).map { "spine\($0)" }, classes: classList)
            for e in 0..<hosts {
                n.connect(e, n.node(ofSwitch: e / half), linkClass: cls("host"))
                n.groupOf[e] = e / half
            }
            for leaf in 0..<k { for s in 0..<half { n.connect(n.node(ofSwitch: leaf), n.node(ofSwitch: k + s), linkClass: cls("fabric")) } }
            return n
        }
        // k pods of k/2 edge and k/2 aggregation switches, (k/2)² cores, k³/4 hosts.
        let hosts = k * half * half, edges = k * half, cores = half * half
        let names = (0..<edges).map { "edge\($0)" } + (0..<edges).map { "agg\($0)" } + (0..<cores).map { "core\($0)" }
        var n = Network(kind: kind, endpoints: (0..<hosts).map { "h\($0)" }, switches: names, classes: classList)
        for e in 0..<hosts {
            n.connect(e, n.node(ofSwitch: e / half), linkClass: cls("host"))
            n.groupOf[e] = e / (half * half)
        }
        for pod in 0..<k {
            for i in 0..<half {
                for j in 0..<half {
                    n.connect(n.node(ofSwitch: pod * half + i), n.node(ofSwitch: edges + pod * half + j), linkClass: cls("fabric"))
                    n.connect(n.node(ofSwitch: edges + pod * half + j), n.node(ofSwitch: 2 * edges + j * half + i),
                              linkClass: cls("fabric"))
                }
            }
        }
        return n
    }

    /// Torus (rings or lines per dimension) and HyperX (all-to-all per dimension).
    private func buildGrid(p: Int, cls: (String) -> Int, classList: [Network.LinkClass]) -> Network {
        let dims = dimensions
        let count = dims.reduce(1, *)
        func coordinates(_ index: Int) -> [Int] {
            var rest = index
            return dims.map { d in
                defer { rest /= d }
                return rest % d
            }
        }
        func index(_ c: [Int]) -> Int { zip(c, dims).reversed().reduce(0) { $0 * $1.1 + $1.0 } }
        var n = Network(kind: kind, endpoints: (0..<(count * p)).map { "e\($0)" },
                        switches: (0..<count).map { "r" + coordinates($0).map(String.init).joined(separator: ".") },
                        classes: classList)
        n.coordinates = (0..<count).map(coordinates)
        for e in 0..<(count * p) {
            n.connect(e, n.node(ofSwitch: e / p), linkClass: cls("terminal"))
            n.groupOf[e] = coordinates(e / p).dropFirst().reduce(0) { $0 * 1000 + $1 }
        }
        for s in 0..<count {
            let c = coordinates(s)
            for (d, size) in dims.enumerated() where size > 1 {
                if kind == .expressMesh {
                    // A mesh, plus a link skipping ahead `express` routers along the dimension.
                    let e = integers["express"] ?? 4
                    for (step, linkClass) in [(1, "network"), (e, "express")] where step >= 1 && c[d] + step < size {
                        var t = c
                        t[d] = c[d] + step
                        n.connect(n.node(ofSwitch: s), n.node(ofSwitch: index(t)), linkClass: cls(linkClass))
                    }
                } else if kind == .hyperx {
                    for other in (c[d] + 1)..<size {
                        var t = c
                        t[d] = other
                        n.connect(n.node(ofSwitch: s), n.node(ofSwitch: index(t)), linkClass: cls("network"))
                    }
                } else {
                    let wraps = wrap.isEmpty ? true : (wrap.count == 1 ? wrap[0] : wrap[d])
                    guard c[d] + 1 < size || (wraps && size > 2) else { continue }
                    var t = c
                    t[d] = (c[d] + 1) % size
                    n.connect(n.node(ofSwitch: s), n.node(ofSwitch: index(t)), linkClass: cls("network"))
                }
            }
        }
        return n
    }

    /// Dragonfly (Kim, Dally et al. 2008): g groups of a routers, each router with p
    /// endpoints, all-to-all local links, and h global links spread over the other groups.
    private func buildDragonfly(p: Int, a: Int, h: Int, g: Int, cls: (String) -> Int, classList: [Network.LinkClass]) -> Network {
        var n = Network(kind: kind, endpoints: (0..<(g * a * p)).map { "e\($0)" },
                        switches: (0..<(g * a)).map { "g\($0 / a)r\($0 % a)" }, classes: classList)
        n.coordinates = (0..<(g * a)).map { [$0 / a, $0 % a] }
        for e in 0..<(g * a * p) {
            n.connect(e, n.node(ofSwitch: e / p), linkClass: cls("terminal"))
            n.groupOf[e] = e / (a * p)
        }
        for group in 0..<g {
            for i in 0..<a { for j in (i + 1)..<a { n.connect(n.node(ofSwitch: group * a + i), n.node(ofSwitch: group * a + j), linkClass: cls("local")) } }
        }
        connectGlobal(&n, groups: g, portsPerGroup: a * h, routerOfPort: { group, port in
            // absolute: ports in order over routers; relative: interleaved over routers.
            group * a + (arrangement == "absolute" ? port / h : port % a)
        }, cls: cls("global"))
        return n
    }

    /// Every pair of groups gets ⌊ports/(g−1)⌋ global links, ports filled in order (with
    /// g = ports+1 this is the classic one link per pair).
    private func connectGlobal(_ n: inout Network, groups g: Int, portsPerGroup: Int,
                               routerOfPort: (Int, Int) -> Int, cls: Int) {
        var next = [Int](repeating: 0, count: g)
        let repeats = max(1, portsPerGroup / max(g - 1, 1))
        for _ in 0..<repeats {
            for x in 0..<g {
                for y in (x + 1)..<g where next[x] < portsPerGroup && next[y] < portsPerGroup {
                    n.connect(n.node(ofSwitch: routerOfPort(x, next[x])), n.node(ofSwitch: routerOfPort(y, next[y])), linkClass: cls)
                    next[x] += 1
                    next[y] += 1
                }
            }
        }
    }

    /// Dragonfly+ (Shpiner et al. 2017): groups are leaf–spine fat trees; spines carry the
    /// global links.
    private func buildDragonflyPlus(p: Int, leaves: Int, spines: Int, h: Int, g: Int, cls: (String) -> Int,
                                    classList: [Network.LinkClass]) -> Network {
        let perGroup = leaves + spines
        var names: [String] = []
        for group in 0..<g {
            names += (0..<leaves).map { "g\(group)leaf\($0)" } + (0..<spines).map { "g\(group)spine\($0)" }
        }
        var n = Network(kind: kind, endpoints: (0..<(g * leaves * p)).map { "e\($0)" }, switches: names, classes: classList)
        n.coordinates = (0..<(g * perGroup)).map { [$0 / perGroup, $0 % perGroup] }
        for e in 0..<(g * leaves * p) {
            let leaf = e / p, group = leaf / leaves
            n.connect(e, n.node(ofSwitch: group * perGroup + leaf % leaves), linkClass: cls("terminal"))
            n.groupOf[e] = group
        }
        for group in 0..<g {
            for l in 0..<leaves {
                for s in 0..<spines {
                    n.connect(n.node(ofSwitch: group * perGroup + l), n.node(ofSwitch: group * perGroup + leaves + s),
                              linkClass: cls("local"))
                }
            }
        }
        connectGlobal(&n, groups: g, portsPerGroup: spines * h, routerOfPort: { group, port in
            group * perGroup + leaves + port / h
        }, cls: cls("global"))
        return n
    }

    private func buildCustom(cls: (String) -> Int, classList: [Network.LinkClass]) throws -> Network {
        func fail(_ key: String, _ message: String) -> TopologyError { TopologyError(file: file, key: key, message) }
        var switchIndex: [String: Int] = [:]
        for (i, s) in customSwitches.enumerated() {
            guard switchIndex[s] == nil else { throw fail("switch[\(i)].name", "'\(s)' is listed twice") }
            switchIndex[s] = i
        }
        var n = Network(kind: kind, endpoints: customEndpoints.map(\.name), switches: customSwitches, classes: classList)
        var seen = Set<String>()
        for (i, e) in customEndpoints.enumerated() {
            guard seen.insert(e.name).inserted else { throw fail("endpoint[\(i)].name", "'\(e.name)' is listed twice") }
            guard let s = switchIndex[e.switch] else {
                throw fail("endpoint[\(i)].switch", "'\(e.switch)' is not a listed switch")
            }
            n.connect(i, n.node(ofSwitch: s), linkClass: cls("terminal"))
            n.groupOf[i] = s
        }
        for (i, l) in customLinks.enumerated() {
            guard let a = switchIndex[l.a] else { throw fail("link[\(i)].a", "'\(l.a)' is not a listed switch") }
            guard let b = switchIndex[l.b] else { throw fail("link[\(i)].b", "'\(l.b)' is not a listed switch") }
            guard a != b else { throw fail("link[\(i)]", "connects '\(l.a)' to itself") }
            guard classes[l.linkClass] != nil else {
                throw fail("link[\(i)].class", "'\(l.linkClass)' is not defined under [links]")
            }
            for _ in 0..<l.count { n.connect(n.node(ofSwitch: a), n.node(ofSwitch: b), linkClass: cls(l.linkClass)) }
        }
        return n
    }
}

extension Network {
    /// Every endpoint must reach every other.
    func checkConnected(file: String) throws {
        guard endpoints > 0 else { throw TopologyError(file: file, "the network has no endpoints") }
        var seen = [Bool](repeating: false, count: nodes)
        var stack = [0]
        seen[0] = true
        while let v = stack.popLast() {
            for (u, _) in adjacency[v] where !seen[u] {
                seen[u] = true
                stack.append(u)
            }
        }
        if let lost = (0..<endpoints).first(where: { !seen[$0] }) {
            throw TopologyError(file: file, "the network is disconnected: endpoint '\(endpointNames[lost])' cannot reach '\(endpointNames[0])'; add links")
        }
    }
}
