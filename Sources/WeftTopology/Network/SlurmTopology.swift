/// Imports Slurm's topology.conf (tree plugin) as a custom tree:
/// `SwitchName=s1 Nodes=tux[0-3,7]` and `SwitchName=s0 Switches=s[1-2]`.
/// Link classes take the defaults (terminal and fabric 25 GB/s).
public enum SlurmTopology {
    public static func parse(_ text: String, file: String) throws -> Descriptor {
        var d = Descriptor(file: file, kind: .custom, name: (file as NSString).lastPathComponent)
        d.classes["terminal"] = Network.LinkClass(name: "terminal", bandwidth: 25e9, latency: 100e-9, price: 30, optical: false)
        d.classes["fabric"] = Network.LinkClass(name: "fabric", bandwidth: 25e9, latency: 200e-9, price: 200, optical: true)
        // Where each switch, node and parent link was written: a problem is reported at the
        // user's line, not at the custom descriptor's internal keys (`link[2].b`) it becomes.
        var switchLines: [String: Int] = [:], nodeLines: [String: (line: Int, switch: String)] = [:], linkLines: [Int] = []
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard !fields.isEmpty else { continue }
            var values: [String: String] = [:]
            for field in fields {
                let parts = field.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2 else {
                    throw TopologyError(file: file, line: number + 1, "expected Key=Value, got '\(field)'")
                }
                values[parts[0].lowercased()] = parts[1]
            }
            guard let name = values["switchname"] else {
                throw TopologyError(file: file, key: "SwitchName", line: number + 1, "every line needs SwitchName=")
            }
            for key in values.keys where !["switchname", "switches", "nodes", "linkspeed"].contains(key) {
                throw TopologyError(file: file, key: key, line: number + 1, "unknown (allowed: SwitchName, Switches, Nodes, LinkSpeed)")
            }
            // Slurm reads LinkSpeed as an integer in arbitrary units and does not use it;
            // neither does Weft (link classes take the defaults), but a typo is still refused.
            if let speed = values["linkspeed"], (Int(speed) ?? 0) <= 0 {
                throw TopologyError(file: file, key: "LinkSpeed", line: number + 1, "must be a positive integer, got '\(speed)'")
            }
            if let first = switchLines[name] {
                throw TopologyError(file: file, key: "SwitchName", line: number + 1,
                                    "switch \(name) is already defined on line \(first); give each switch one line")
            }
            switchLines[name] = number + 1
            d.customSwitches.append(name)
            for child in try expand(values["switches"] ?? "", file: file, line: number + 1) {
                d.customLinks.append((name, child, "fabric", 1))
                linkLines.append(number + 1)
            }
            for node in try expand(values["nodes"] ?? "", file: file, line: number + 1) {
                if let first = nodeLines[node] {
                    throw TopologyError(file: file, key: "Nodes", line: number + 1,
                                        "node \(node) under switch \(name) is already under \(first.switch) on line \(first.line); list each node once")
                }
                nodeLines[node] = (number + 1, name)
                d.customEndpoints.append((node, name))
            }
        }
        guard !d.customSwitches.isEmpty else { throw TopologyError(file: file, "no SwitchName= lines found") }
        for (link, line) in zip(d.customLinks, linkLines) where switchLines[link.b] == nil {
            throw TopologyError(file: file, key: "Switches", line: line,
                                "switch \(link.b) under switch \(link.a) has no SwitchName= line; add one or drop it from Switches=")
        }
        try checkTree(d, file: file, linkLines: linkLines)
        return d
    }

    /// Slurm's tree plugin describes a tree: every switch under at most one parent and no
    /// switch its own ancestor. A cycle would make routes loop; refuse it by name.
    static func checkTree(_ d: Descriptor, file: String, linkLines: [Int]) throws {
        var parent: [String: String] = [:]
        for (link, line) in zip(d.customLinks, linkLines) {
            if let other = parent[link.b], other != link.a {
                throw TopologyError(file: file, key: "Switches", line: line, "switch \(link.b) is listed under both \(other) and \(link.a); the tree plugin needs one parent per switch")
            }
            parent[link.b] = link.a
        }
        for start in d.customSwitches {
            var path = [start], seen: Set<String> = [start], current = start
            while let up = parent[current] {
                path.append(up)
                guard seen.insert(up).inserted else {
                    throw TopologyError(file: file, key: "Switches", "switches form a cycle: \(path.joined(separator: " -> ")); a topology.conf tree has none")
                }
                current = up
            }
        }
    }

    /// Most hosts one topology file may name: far beyond any cluster (the largest have
    /// ~10^5 nodes), small enough that expanding them cannot exhaust memory.
    public static let maxHosts = 1 << 20

    /// Expands Slurm host lists: "tux[0-3,7],io1" → tux0 tux1 tux2 tux3 tux7 io1.
    /// Ranges are counted before they are expanded, so a typo cannot exhaust memory.
    public static func expand(_ list: String, file: String = "", line: Int? = nil) throws -> [String] {
        var names: [String] = []
        var depth = 0, current = ""
        var items: [String] = []
        for ch in list {
            if ch == "[" { depth += 1 } else if ch == "]" { depth -= 1 }
            if ch == "," && depth == 0 {
                items.append(current)
                current = ""
            } else {
                current.append(ch)
            }
        }
        if !current.isEmpty { items.append(current) }
        for item in items where !item.isEmpty {
            guard let open = item.firstIndex(of: "[") else {
                names.append(item)
                continue
            }
            guard let close = item.firstIndex(of: "]"), close > open else {
                throw TopologyError(file: file, line: line, "unbalanced brackets in '\(item)'")
            }
            let prefix = String(item[..<open]), suffix = String(item[item.index(after: close)...])
            for range in item[item.index(after: open)..<close].split(separator: ",") {
                let bounds = range.split(separator: "-").map(String.init)
                guard let low = Int(bounds[0]), let high = Int(bounds.last!), low <= high, bounds.count <= 2 else {
                    throw TopologyError(file: file, line: line, "bad range '\(range)' in '\(item)'")
                }
                let (span, overflow) = high.subtractingReportingOverflow(low)
                guard !overflow, span < maxHosts - names.count else {
                    throw TopologyError(file: file, line: line,
                                        "range '\(range)' in '\(item)' names more than \(maxHosts) hosts; check the bounds")
                }
                let width = bounds[0].count
                for i in low...high {
                    let digits = String(i)
                    let padded = bounds[0].hasPrefix("0") && digits.count < width
                        ? String(repeating: "0", count: width - digits.count) + digits : digits
                    names.append(prefix + padded + suffix)
                }
            }
        }
        return names
    }
}

import Foundation
