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
    }

    func header(options: Bench, request: Bench.Request, registered: Bool) {
        guard printing else { return }
        switch format {
        case "table":
            print("# weft bench \(collective.rawValue): \(ranks) ranks, \(request.type.rawValue)"
                + (collective.reduces ? " \(request.op.rawValue)" : "")
                + ", \(options.iters) iterations (median of the slowest rank), warm-up \(options.warmup)"
                + (registered ? ", registered buffers" : ", ordinary buffers"))
            print(line(Self.columns))
        case "csv":
            print(Self.columns.joined(separator: ","))
        default:
            break
        }
        fflush(nil)
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
