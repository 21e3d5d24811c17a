import Foundation
import TOMLKit

/// A parsed topology descriptor (`topologies/*.toml`): the kind, its parameters, link
/// classes, routing and placement. `build()` turns it into a `Network`.
public struct Descriptor: Sendable {
    public var file: String
    public var kind: NetworkKind
    public var name: String
    /// Integer parameters (p, a, h, g, k, levels, leaves, spines, endpoints, seed…).
    public var integers: [String: Int] = [:]
    public var dimensions: [Int] = []
    public var wrap: [Bool] = []
    public var oversubscription: Double = 1
    public var arrangement = "absolute"
    public var classes: [String: Network.LinkClass] = [:]
    public var routing = "minimal"
    public var placement = "linear"
    public var placementSeed: UInt64 = 1
    public var hosts: [String] = []
    /// Ranks on each endpoint (`[placement] ranks_per_endpoint`): k > 1 describes hosts of k
    /// ranks behind one NIC; ranks of one host copy through memory (`Network.memory`).
    public var ranksPerEndpoint = 1
    public var portPrice: Double = 300
    /// For `custom`: switches, endpoints (name, switch) and links (a, b, class, count).
    public var customSwitches: [String] = []
    public var customEndpoints: [(name: String, switch: String)] = []
    public var customLinks: [(a: String, b: String, linkClass: String, count: Int)] = []

    public static let kinds = NetworkKind.allCases.map(\.rawValue)

    /// Parameter keys each kind accepts at the top level (besides kind and name).
    static let parameterKeys: [NetworkKind: [String]] = [
        .singleNode: ["endpoints"],
        .fatTree: ["k", "levels", "oversubscription"],
        .torus: ["dims", "wrap", "p"],
        .dragonfly: ["p", "a", "h", "g", "arrangement"],
        .dragonflyPlus: ["p", "leaves", "spines", "h", "g"],
        .hyperx: ["dims", "p"],
        .expressMesh: ["dims", "p", "express"],
        .custom: ["switch", "endpoint", "link"],
    ]

    /// Link classes each kind uses, with defaults for any the file leaves out.
    static let classDefaults: [NetworkKind: [(String, Double, Double, Bool)]] = [
        .singleNode: [("memory", 10e9, 100e-9, false)],
        .fatTree: [("host", 25e9, 100e-9, false), ("fabric", 25e9, 200e-9, true)],
        .torus: [("terminal", 25e9, 100e-9, false), ("network", 25e9, 100e-9, false)],
        .dragonfly: [("terminal", 25e9, 100e-9, false), ("local", 25e9, 100e-9, false), ("global", 25e9, 1e-6, true)],
        .dragonflyPlus: [("terminal", 25e9, 100e-9, false), ("local", 25e9, 100e-9, false), ("global", 25e9, 1e-6, true)],
        .hyperx: [("terminal", 25e9, 100e-9, false), ("network", 25e9, 200e-9, true)],
        .expressMesh: [("terminal", 25e9, 100e-9, false), ("network", 25e9, 100e-9, false), ("express", 25e9, 300e-9, true)],
        .custom: [],
    ]

    static let routings: [NetworkKind: [String]] = [
        .singleNode: ["minimal"], .fatTree: ["minimal", "updown", "dmodk"], .torus: ["minimal", "dor"],
        .dragonfly: ["minimal", "valiant", "ugal"], .dragonflyPlus: ["minimal", "valiant", "ugal", "dmodk"],
        .hyperx: ["minimal", "dor"], .expressMesh: ["minimal"], .custom: ["minimal"],
    ]

    /// Link and cost values Weft models. Beyond them a value is a typo (1e308 for 1e3), and
    /// the times and costs it yields overflow to inf, which no table or JSON line can hold.
    public static let bandwidths = 1e3...1e15  // 1KB/s…1000TB/s
    public static let latencies = 0.0...10.0
    public static let prices = 0.0...1e9
    public static let oversubscriptions = 1.0...1000.0

    public static func load(_ path: String) throws -> Descriptor {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TopologyError(file: path, "cannot read the file (check the path and permissions)")
        }
        let text = String(decoding: data, as: UTF8.self)
        if path.hasSuffix(".conf") || (!text.contains("kind") && text.contains("SwitchName=")) {
            return try SlurmTopology.parse(text, file: path)
        }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) throws -> Descriptor {
        try checkTableHeaders(text, file: file)
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            // One line even when toml++ quotes the newline it saw.
            throw TopologyError(file: file, line: error.source.begin.line, "malformed TOML: \(error.description.replacingOccurrences(of: "\n", with: "\\n"))")
        }
        return try Descriptor(table: table, file: file)
    }

    /// Refuses a table header with no name (`[`, `[#…`, `[[ =`): TOMLKit's bundled toml++
    /// asserts on it and aborts the process instead of reporting a parse error.
    static func checkTableHeaders(_ text: String, file: String) throws {
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var rest = line.drop { $0 == " " || $0 == "\t" }
            guard rest.first == "[" else { continue }
            rest = rest.dropFirst()
            if rest.first == "[" { rest = rest.dropFirst() }
            rest = rest.drop { $0 == " " || $0 == "\t" }
            if let c = rest.first, c.isASCII && (c.isLetter || c.isNumber || "_-\"']".contains(c)) { continue }
            throw TopologyError(file: file, line: index + 1, "malformed TOML: a table header needs a name, e.g. [links.global]")
        }
    }

    init(file: String, kind: NetworkKind, name: String) {
        self.file = file
        self.kind = kind
        self.name = name
    }

    private init(table: TOMLTable, file: String) throws {
        self.file = file
        func fail(_ key: String?, _ message: String) -> TopologyError { TopologyError(file: file, key: key, message) }
        guard let kindName = table["kind"]?.string else {
            throw fail("kind", "missing; set kind to one of \(Descriptor.kinds.joined(separator: ", "))")
        }
        guard let known = NetworkKind(rawValue: kindName), let allowed = Descriptor.parameterKeys[known] else {
            throw fail("kind", "unknown kind '\(kindName)'; use one of \(Descriptor.kinds.joined(separator: ", "))")
        }
        self.kind = known
        name = table["name"]?.string ?? (file as NSString).lastPathComponent
        let sections = ["kind", "name", "links", "routing", "placement", "cost"]
        for key in table.keys where !sections.contains(key) && !allowed.contains(key) {
            throw fail(key, "unknown for kind \(kind) (allowed: \((sections + allowed).joined(separator: ", ")))")
        }
        for key in allowed where !["dims", "wrap", "arrangement", "oversubscription", "switch", "endpoint", "link"].contains(key) {
            guard let value = table[key] else { continue }
            guard let i = value.int else { throw fail(key, "must be an integer") }
            guard i > 0 else { throw fail(key, "must be positive, got \(i)") }
            integers[key] = i
        }
        if let value = table["dims"] {
            if let text = value.string {
                // Empty pieces count: "4x" and "4xx4" are typos, not 1-D or 2-D tori.
                let parts = text.split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
                guard !parts.isEmpty, parts.allSatisfy({ ($0 ?? 0) > 0 }) else {
                    throw fail("dims", "must look like \"4x4x4\" or [4, 4, 4] with positive sizes, got \"\(text)\"")
                }
                dimensions = parts.map { $0! }
            } else if let array = value.array {
                dimensions = try array.map {
                    guard let i = $0.int, i > 0 else { throw fail("dims", "must be a list of positive integers") }
                    return i
                }
            } else {
                throw fail("dims", "must look like \"4x4x4\" or [4, 4, 4]")
            }
        }
        if let value = table["wrap"] {
            if let b = value.bool {
                wrap = Array(repeating: b, count: max(dimensions.count, 1))
            } else if let array = value.array {
                wrap = try array.map {
                    guard let b = $0.bool else { throw fail("wrap", "must be true, false or a list of them") }
                    return b
                }
            } else {
                throw fail("wrap", "must be true, false or a list of them (one per dimension)")
            }
        }
        if let value = table["oversubscription"] {
            guard let r = value.double ?? value.int.map(Double.init), Descriptor.oversubscriptions.contains(r) else {
                throw fail("oversubscription", "must be a number 1…1000 (e.g. 2 for 2:1)")
            }
            oversubscription = r
        }
        if let value = table["arrangement"] {
            guard let a = value.string, ["absolute", "relative"].contains(a) else {
                throw fail("arrangement", "must be \"absolute\" or \"relative\"")
            }
            arrangement = a
        }
        // Link classes: defaults for the kind, overridden by [links.NAME] tables.
        for (n, bw, lat, optical) in Descriptor.classDefaults[kind] ?? [] {
            classes[n] = Network.LinkClass(name: n, bandwidth: bw, latency: lat, price: optical ? 200 : 30, optical: optical)
        }
        if let links = table["links"] {
            guard let links = links.table else { throw fail("links", "must be a table of link classes, e.g. [links.global]") }
            for className in links.keys {
                let key = "links.\(className)"
                guard let spec = links[className]?.table else { throw fail(key, "must be a table with bandwidth and latency") }
                for k in spec.keys where !["bandwidth", "latency", "price", "optical"].contains(k) {
                    throw fail("\(key).\(k)", "unknown (allowed: bandwidth, latency, price, optical)")
                }
                var linkClass = classes[className]
                    ?? Network.LinkClass(name: className, bandwidth: 0, latency: 0, price: 30, optical: false)
                // `memory` (copies between ranks of one endpoint) applies to every kind.
                if kind != .custom && classes[className] == nil && className != "memory" {
                    let known = (Descriptor.classDefaults[kind] ?? []).map(\.0).joined(separator: ", ")
                    throw fail(key, "kind \(kind) has no link class '\(className)' (its classes: \(known))")
                }
                if let text = spec["bandwidth"] {
                    guard let s = text.string, let bw = Units.bandwidth(s) else {
                        throw fail("\(key).bandwidth", "must be a positive bandwidth with a unit, e.g. \"25GB/s\" or \"200Gb/s\"")
                    }
                    guard Descriptor.bandwidths.contains(bw) else {
                        throw fail("\(key).bandwidth", "'\(s)' is outside 1KB/s…1000TB/s, the range Weft models; give the link's real bandwidth")
                    }
                    linkClass.bandwidth = bw
                } else if linkClass.bandwidth == 0 {
                    throw fail("\(key).bandwidth", "missing; give e.g. bandwidth = \"25GB/s\"")
                }
                if let text = spec["latency"] {
                    guard let s = text.string, let lat = Units.latency(s) else {
                        throw fail("\(key).latency", "must be a latency with a unit, e.g. \"100ns\" or \"1us\"")
                    }
                    guard Descriptor.latencies.contains(lat) else {
                        throw fail("\(key).latency", "'\(s)' is outside 0…10s, the range Weft models; give the link's real latency")
                    }
                    linkClass.latency = lat
                }
                if let price = spec["price"] {
                    guard let p = price.double ?? price.int.map(Double.init) else {
                        throw fail("\(key).price", "must be a number 0…1e9 (the price of one cable)")
                    }
                    guard Descriptor.prices.contains(p) else {
                        throw fail("\(key).price", "must be a number 0…1e9 (the price of one cable), got \(p)")
                    }
                    linkClass.price = p
                }
                if let optical = spec["optical"] {
                    guard let o = optical.bool else { throw fail("\(key).optical", "must be true or false") }
                    linkClass.optical = o
                }
                classes[className] = linkClass
            }
        }
        if let routing = table["routing"] {
            guard let r = routing.table?["algorithm"]?.string else {
                throw fail("routing.algorithm", "missing; e.g. [routing] algorithm = \"minimal\"")
            }
            let allowedRoutings = Descriptor.routings[kind] ?? ["minimal"]
            guard allowedRoutings.contains(r) else {
                throw fail("routing.algorithm", "'\(r)' does not apply to \(kind) (use \(allowedRoutings.joined(separator: ", ")))")
            }
            self.routing = r
        }
        if let placement = table["placement"]?.table {
            for k in placement.keys where !["policy", "seed", "hosts", "ranks_per_endpoint"].contains(k) {
                throw fail("placement.\(k)", "unknown (allowed: policy, seed, hosts, ranks_per_endpoint)")
            }
            if let value = placement["ranks_per_endpoint"] {
                guard let k = value.int, (1...1024).contains(k) else {
                    throw fail("placement.ranks_per_endpoint",
                               "must be an integer 1…1024 (ranks per host behind one NIC), got "
                                   + (value.int.map { "\($0)" } ?? "a \(value.type)"))
                }
                ranksPerEndpoint = k
            }
            let policy = placement["policy"]?.string ?? (placement["hosts"] != nil ? "hosts" : "linear")
            guard ["linear", "round-robin", "random", "hosts"].contains(policy) else {
                throw fail("placement.policy", "'\(policy)' is not a placement (use linear, round-robin, random, hosts)")
            }
            self.placement = policy
            if let seed = placement["seed"]?.int { placementSeed = UInt64(max(seed, 0)) }
            if policy == "hosts" {
                guard let hosts = placement["hosts"]?.array?.compactMap({ $0.string }), !hosts.isEmpty else {
                    throw fail("placement.hosts", "must list endpoint names for policy hosts")
                }
                self.hosts = hosts
            }
        }
        if let cost = table["cost"]?.table, let port = cost["port"] {
            guard let p = port.double ?? port.int.map(Double.init) else {
                throw fail("cost.port", "must be a number 0…1e9 (the price of one switch port)")
            }
            guard Descriptor.prices.contains(p) else {
                throw fail("cost.port", "must be a number 0…1e9 (the price of one switch port), got \(p)")
            }
            portPrice = p
        }
        if kind == .custom { try parseCustom(table) }
    }

    private mutating func parseCustom(_ table: TOMLTable) throws {
        let file = self.file
        func fail(_ key: String, _ message: String) -> TopologyError { TopologyError(file: file, key: key, message) }
        func names(_ key: String) throws -> [TOMLTable] {
            guard let array = table[key]?.array else { throw fail(key, "custom topologies list [[\(key)]] entries") }
            return try array.map {
                guard let t = $0.table else { throw fail(key, "every [[\(key)]] entry must be a table") }
                return t
            }
        }
        customSwitches = try names("switch").enumerated().map { i, t in
            guard let n = t["name"]?.string else { throw fail("switch[\(i)].name", "missing") }
            return n
        }
        customEndpoints = try names("endpoint").enumerated().map { i, t in
            guard let n = t["name"]?.string else { throw fail("endpoint[\(i)].name", "missing") }
            guard let s = t["switch"]?.string else { throw fail("endpoint[\(i)].switch", "missing: name the switch it plugs into") }
            return (n, s)
        }
        customLinks = try (table["link"] == nil ? [] : names("link")).enumerated().map { i, t in
            guard let a = t["a"]?.string, let b = t["b"]?.string else { throw fail("link[\(i)]", "needs a and b (switch names)") }
            guard let c = t["class"]?.string else { throw fail("link[\(i)].class", "missing: name a link class of [links]") }
            let count = t["count"]?.int ?? 1
            // Each parallel cable is a link of the graph: a count far beyond any switch's
            // ports would only exhaust memory.
            guard (1...4096).contains(count) else { throw fail("link[\(i)].count", "must be 1…4096 parallel cables, got \(count)") }
            return (a, b, c, count)
        }
    }
}
