import Foundation
import Weft
import WeftTopology

/// Prints benchmark rows as an nccl-tests-style table, CSV, or one JSON object per row.
struct BenchReport {
    let format: String
    let collective: Collective
    let ranks: Int
    let printing: Bool

    private static let columns = ["bytes", "count", "algorithm", "time_us", "algbw_GBps", "busbw_GBps", "wrong"]
    private static let widths = [12, 11, 22, 11, 11, 11, 6]

    private struct JSONRow: Encodable {
        let collective: String
        let algorithm: String
        let ranks: Int
        let bytes: Int
        let count: Int
        let time_us: Double
        let algbw_GBps: Double
        let busbw_GBps: Double
        let wrong: Int?

        enum CodingKeys: String, CodingKey {
            case collective, algorithm, ranks, bytes, count, time_us, algbw_GBps, busbw_GBps, wrong
        }

        /// Written by hand so that an unchecked `wrong` appears as null, not as a missing key.
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(collective, forKey: .collective)
            try c.encode(algorithm, forKey: .algorithm)
            try c.encode(ranks, forKey: .ranks)
            try c.encode(bytes, forKey: .bytes)
            try c.encode(count, forKey: .count)
            try c.encode(time_us, forKey: .time_us)
            try c.encode(algbw_GBps, forKey: .algbw_GBps)
            try c.encode(busbw_GBps, forKey: .busbw_GBps)
            try c.encode(wrong, forKey: .wrong)
        }
    }

    /// `nodes`: which ranks share a node, where they span several (`auto`'s two-level rules
    /// depend on the layout, so the header names it).
    func header(options: Bench, request: Bench.Request, registered: Bool, network: NetworkContext?,
                nodes: [[Int]]? = nil) {
        guard printing else { return }
        switch format {
        case "table":
            print("# weft bench \(collective.rawValue): \(ranks) ranks, \(request.type.rawValue)"
                + (collective.reduces ? " \(request.op.rawValue)" : "")
                + ", " + (options.iters.map { "\($0) iterations" } ?? "200 iterations up to 64K, 20 above")
                + " (median of the slowest rank), warm-up \(options.warmup)"
                + (registered ? ", registered buffers" : ", ordinary buffers"))
            if let nodes, nodes.count > 1 {
                print("# " + Self.describe(nodes) + "; between nodes: "
                      + (Runtime.socketsAcrossNodes ? "Weft's TCP sockets" : "Open MPI's point-to-point")
                      + " (WEFT_ACROSS; `mpi` is Open MPI's own either way)")
            }
            if let network {
                print("# topology \(network.descriptor.file) (\(network.descriptor.kind), \(network.network.endpoints) endpoints), "
                    + "ranks on endpoints " + network.placement.prefix(8).map(String.init).joined(separator: ",")
                    + (network.placement.count > 8 ? ",…" : "")
                    + (options.emulate ? "; emulated fabric, \(options.slowdown)× slower, times divided back by it" : ""))
            }
            print(line(Self.columns))
        case "csv":
            print(Self.columns.joined(separator: ","))
        default:
            break
        }
        fflush(nil)
    }

    /// "2 nodes of 2+1 ranks (uneven)": the node count, ranks per node and the layout class.
    static func describe(_ nodes: [[Int]]) -> String {
        let counts = nodes.map(\.count)
        let shape = Set(counts).count == 1 ? "\(counts[0])" : counts.count <= 8
            ? counts.map(String.init).joined(separator: "+") : "\(counts.min()!)–\(counts.max()!)"
        let layout = switch TwoLevel.placement(nodes) {
        case .roundRobin: "placed round-robin"
        case .consecutive: "consecutive ranks per node"
        case .uneven: "uneven"
        case .other: counts.allSatisfy { $0 == 1 } ? "one rank per node" : "neither round-robin nor consecutive"
        }
        return "\(nodes.count) nodes of \(shape) rank\(shape == "1" ? "" : "s") (\(layout))"
    }

    func row(bytes: Int, count: Int, algorithm: String, seconds: Double, wrong: Int?) {
        guard printing else { return }
        let algbw = seconds > 0 ? Double(bytes) / seconds / 1e9 : 0
        let busbw = algbw * collective.busBandwidthFactor(ranks: ranks)
        let fields = [String(bytes), String(count), algorithm, String(format: "%.2f", seconds * 1e6),
                      String(format: "%.3f", algbw), String(format: "%.3f", busbw), wrong.map(String.init) ?? "n/a"]
        switch format {
        case "table":
            print(line(fields))
        case "csv":
            print(fields.joined(separator: ","))
        default:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let json = JSONRow(collective: collective.rawValue, algorithm: algorithm, ranks: ranks, bytes: bytes,
                               count: count, time_us: (seconds * 1e8).rounded() / 100,
                               algbw_GBps: (algbw * 1000).rounded() / 1000,
                               busbw_GBps: (busbw * 1000).rounded() / 1000, wrong: wrong)
            if let data = try? encoder.encode(json) { print(String(decoding: data, as: UTF8.self)) }
        }
        fflush(nil)
    }

    func footer() {}

    private func line(_ fields: [String]) -> String {
        zip(fields, Self.widths).map { field, width in
            field.count >= width ? " " + field : String(repeating: " ", count: width - field.count) + field
        }.joined()
    }
}
