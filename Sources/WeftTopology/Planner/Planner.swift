import Foundation
import TOMLKit

/// Chooses, per collective and message size, the algorithm the simulator predicts fastest
/// on a network: every candidate schedule is replayed (alpha-beta per link class plus
/// contention), the cheapest wins, and neighbouring sizes with the same winner merge into
/// one rule. The plan is written in the format a tuning file is read in.
public struct Plan: Sendable {
    public struct Rule: Sendable, Equatable {
        public var collective: Collective
        /// Bytes, lower bound inclusive, upper exclusive.
        public var minBytes: Int
        public var maxBytes: Int
        public var algorithm: Algorithm
        public var predictedMicroseconds: Double
        /// Which buffers the rule is for (`weft tune` measures both); nil: any.
        public var buffers: BufferKind? = nil
        /// The time `weft tune` measured for the chosen algorithm (nil for a simulated plan).
        public var measuredMicroseconds: Double? = nil

        public init(collective: Collective, minBytes: Int, maxBytes: Int, algorithm: Algorithm,
                    predictedMicroseconds: Double, buffers: BufferKind? = nil, measuredMicroseconds: Double? = nil) {
            self.collective = collective
            self.minBytes = minBytes
            self.maxBytes = maxBytes
            self.algorithm = algorithm
            self.predictedMicroseconds = predictedMicroseconds
            self.buffers = buffers
            self.measuredMicroseconds = measuredMicroseconds
        }
    }

    /// Registered buffers live in Weft's shared windows; ordinary ones are any memory (an
    /// MPI program's, through libweft-mpi.so).
    public enum BufferKind: String, Sendable, CaseIterable {
        case registered, ordinary
    }

    public init(ranks: Int, source: String, rules: [Rule]) {
        self.ranks = ranks
        self.source = source
        self.rules = rules
    }

    /// The job size the rules were measured or planned for; 0 (a file without `ranks`): any.
    public var ranks: Int
    public var source: String
    public var rules: [Rule]

    /// Whether `auto` follows the rules on a communicator of `count` ranks: only at the size
    /// they were made for, since which algorithm wins changes with the rank count (a file
    /// tuned on 8 ranks says nothing of 2, nor of an 8-rank job's 2-rank sub-communicators).
    public func applies(toRanks count: Int) -> Bool { ranks == 0 || ranks == count }

    /// The sizes the planner compares candidates at: every power of two from 8 B to 1 GiB,
    /// so a rule never rests on a guess between probes 8× apart.
    public static let sizes: [Int] = (3...30).map { 1 << $0 }

    /// Algorithms the planner weighs for a collective on a network: every generator serving
    /// it that suits the network's kind; node-aware ones (`two-level`) only when `placement`
    /// puts several ranks on one endpoint (hosts of several ranks), since otherwise they are a ring.
    public static func candidates(_ collective: Collective, network: Network, placement: [Int] = []) -> [Algorithm] {
        let hosts = Placement.sharesEndpoints(placement)
        return Schedules.generators.filter {
            $0.collectives.contains(collective) && Schedules.suits($0.algorithm, network.kind)
                && ($0.requirement != .nodeLayout || hosts)
        }.map { $0.algorithm }
    }

    public static func make(network: Network, descriptor: Descriptor, ranks: Int,
                            collectives: [Collective] = [.allreduce, .reduceScatter, .allgather, .broadcast]) throws -> Plan {
        let comparison = try PlanComparison(network: network, descriptor: descriptor, ranks: ranks)
        var rules: [Rule] = []
        for collective in collectives {
            let table = comparison.compare(collective, sizes: sizes, linkLoads: false)
            for (index, bytes) in sizes.enumerated() {
                guard let best = table[index].first(where: \.chosen) else { continue }
                // A size's winner holds from halfway to the previous size to halfway to the next.
                let low = index == 0 ? 0 : (sizes[index - 1] + bytes) / 2
                let high = index == sizes.count - 1 ? Int.max : (bytes + sizes[index + 1]) / 2
                if let last = rules.last, last.collective == collective, last.algorithm == best.algorithm {
                    rules[rules.count - 1].maxBytes = high
                } else {
                    rules.append(Rule(collective: collective, minBytes: low, maxBytes: high, algorithm: best.algorithm,
                                      predictedMicroseconds: best.time_us))
                }
            }
        }
        return Plan(ranks: ranks, source: descriptor.file, rules: rules)
    }

    /// Whether the rules were measured (`weft tune`) rather than simulated.
    public var measured: Bool { rules.contains { $0.measuredMicroseconds != nil } }

    /// The plan as a tuning file (TOML), readable by `Plan.load`.
    public var toml: String {
        var out = measured
            ? "# Weft tuning file: every algorithm measured by `weft tune` on \(source), \(ranks) ranks.\n"
            : "# Weft algorithm plan for \(source), \(ranks) ranks (from `weft topo plan`).\n"
        out += "# Edit rules or add your own; WEFT_TUNING=FILE or --tuning FILE applies it.\nranks = \(ranks)\n"
        for r in rules {
            out += "\n[[rule]]\ncollective = \"\(r.collective.rawValue)\"\nmin_bytes = \(r.minBytes)\n"
            if r.maxBytes != Int.max { out += "max_bytes = \(r.maxBytes)\n" }
            out += "algorithm = \"\(r.algorithm.rawValue)\"\n"
            if let buffers = r.buffers { out += "buffers = \"\(buffers.rawValue)\"\n" }
            if let measured = r.measuredMicroseconds {
                out += String(format: "measured_us = %.2f\n", measured)
            } else {
                out += String(format: "predicted_us = %.2f\n", r.predictedMicroseconds)
            }
        }
        return out
    }

    /// Reads a tuning file written by `toml` (or by hand).
    public static func load(_ path: String) throws -> Plan {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TopologyError(file: path, "cannot read the tuning file")
        }
        if let index = data.firstIndex(of: 0) {
            throw TopologyError(file: path, "holds a NUL byte at offset \(index); a tuning file is TOML text")
        }
        let text = String(decoding: data, as: UTF8.self)
        try Descriptor.checkTableHeaders(text, file: path)
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw TopologyError(file: path, line: error.source.begin.line, "malformed TOML: \(error.description.replacingOccurrences(of: "\n", with: "\\n"))")
        }
        for key in table.keys where !["ranks", "rule"].contains(key) {
            throw TopologyError(file: path, key: key, "unknown key (a tuning file has ranks and [[rule]] tables)")
        }
        // A wrongly typed value is an error, never a silent default (0, unlimited, no rules).
        let ranks = try table["ranks"].map {
            try integer($0, atLeast: 1, path, "ranks", "must be a positive integer (the job size the rules are for)")
        } ?? 0
        var list: [any TOMLValueConvertible] = []
        if let value = table["rule"] {
            guard let array = value.array else {
                throw TopologyError(file: path, key: "rule", "must be [[rule]] tables, got \(describe(value))")
            }
            list = Array(array)
        }
        var rules: [Rule] = []
        let ruleKeys = ["collective", "min_bytes", "max_bytes", "algorithm", "buffers", "predicted_us", "measured_us"]
        for (i, value) in list.enumerated() {
            let key = "rule[\(i)]"
            guard let rule = value.table else { throw TopologyError(file: path, key: key, "must be a table") }
            for name in rule.keys where !ruleKeys.contains(name) {
                throw TopologyError(file: path, key: "\(key).\(name)", "unknown key (use \(ruleKeys.joined(separator: ", ")))")
            }
            guard let c = rule["collective"]?.string, let collective = Collective(rawValue: c) else {
                throw TopologyError(file: path, key: "\(key).collective", "must name a collective (\(Collective.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            guard let a = rule["algorithm"]?.string, let algorithm = Algorithm(rawValue: a), algorithm != .auto else {
                throw TopologyError(file: path, key: "\(key).algorithm", "must name an algorithm (\(Algorithm.allCases.filter { $0 != .auto }.map(\.rawValue).joined(separator: ", ")))")
            }
            guard Schedules.collectives(servedBy: algorithm).contains(collective) else {
                let served = Schedules.collectives(servedBy: algorithm).map(\.rawValue).joined(separator: ", ")
                throw TopologyError(file: path, key: "\(key).algorithm", "'\(algorithm.rawValue)' cannot run \(collective.rawValue); it serves: \(served)")
            }
            let low = try rule["min_bytes"].map {
                try integer($0, atLeast: 0, path, "\(key).min_bytes", "must be an integer number of bytes ≥ 0")
            } ?? 0
            let high = try rule["max_bytes"].map {
                try integer($0, atLeast: 1, path, "\(key).max_bytes",
                            "must be a positive integer number of bytes (leave it out for no limit)")
            } ?? Int.max
            guard high > low else {
                throw TopologyError(file: path, key: "\(key).max_bytes", "must be larger than min_bytes (\(low)), got \(high)")
            }
            var buffers: BufferKind?
            if let value = rule["buffers"] {
                guard let text = value.string, let kind = BufferKind(rawValue: text) else {
                    throw TopologyError(file: path, key: "\(key).buffers", "must be \"registered\" or \"ordinary\"")
                }
                buffers = kind
            }
            var times: [String: Double] = [:]
            for name in ["predicted_us", "measured_us"] {
                guard let value = rule[name] else { continue }
                guard let t = value.double ?? value.int.map(Double.init), t.isFinite, t >= 0 else {
                    throw TopologyError(file: path, key: "\(key).\(name)", "must be a number of microseconds ≥ 0, got \(describe(value))")
                }
                times[name] = t
            }
            rules.append(Rule(collective: collective, minBytes: low, maxBytes: high, algorithm: algorithm,
                              predictedMicroseconds: times["predicted_us"] ?? 0, buffers: buffers,
                              measuredMicroseconds: times["measured_us"]))
        }
        return Plan(ranks: ranks, source: path, rules: rules)
    }

    /// `value` as an integer of at least `minimum`, else an error naming `key`.
    private static func integer(_ value: any TOMLValueConvertible, atLeast minimum: Int, _ path: String, _ key: String,
                                _ requirement: String) throws -> Int {
        guard let n = value.int, n >= minimum else {
            throw TopologyError(file: path, key: key, "\(requirement), got \(describe(value))")
        }
        return n
    }

    /// A TOML value as an error message shows it: a number or string as written, else its type.
    private static func describe(_ value: any TOMLValueConvertible) -> String {
        if let n = value.int { return "\(n)" }
        if let d = value.double { return "\(d)" }
        if let text = value.string { return "\"\(text)\"" }
        return "a \(value.type)"
    }
}
