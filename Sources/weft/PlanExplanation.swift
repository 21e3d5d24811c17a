import Foundation
import WeftTopology

/// Prints a `PlanComparison` table: per size, every candidate's predicted time, steps,
/// time over the injection bound and busiest link class, the chosen one first, and why it
/// won (by how much over the runner-up). `--json` prints one object per candidate.
enum PlanExplanation {
    static func print(_ table: [[PlanComparison.Candidate]], collective: Collective, comparison: PlanComparison,
                      json: Bool) {
        if json {
            for row in table { for candidate in row { printJSONLine(candidate) } }
            return
        }
        let n = comparison.placement.count
        Swift.print("\(collective.rawValue) on \(n) ranks of \(comparison.network.kind) network; bound: what each endpoint link must carry (\(boundFormula(collective))) at its bandwidth")
        Swift.print(pad("bytes", 10) + "  " + pad("algorithm", -20) + pad("time (us)", 12) + pad("steps", 8)
            + pad("x bound", 9) + "  busiest link: class, bytes per message byte")
        for row in table {
            guard let winner = row.first else { continue }
            for (k, c) in row.enumerated() {
                let busiest = c.busiest_class.map { String(format: "%@ %.2f", $0, c.busiest_bytes_per_message ?? 0) } ?? "-"
                Swift.print(pad(k == 0 ? ByteCount.format(c.bytes) : "", 10) + "  "
                    + pad(c.algorithm.rawValue + (c.chosen ? " *" : ""), -20) + pad(String(format: "%.2f", c.time_us), 12)
                    + pad("\(c.steps)", 8) + pad(c.bound_us > 0 ? String(format: "%.2f", c.over_bound) : "-", 9)
                    + "  " + busiest)
            }
            if row.count > 1 {
                let second = row[1]
                let margin = second.time_us / max(winner.time_us, 1e-9) - 1
                if margin < 0.0005 {
                    Swift.print(pad("", 10) + "  -> \(winner.algorithm.rawValue): ties with \(second.algorithm.rawValue); "
                        + "the one listed first among the planner's candidates wins")
                } else {
                    Swift.print(pad("", 10) + String(format: "  -> %@: fastest predicted, %.1f%% ahead of %@",
                                                     winner.algorithm.rawValue, margin * 100, second.algorithm.rawValue))
                }
            } else {
                Swift.print(pad("", 10) + "  -> \(winner.algorithm.rawValue): the only candidate that can run here")
            }
        }
    }

    /// `text` padded to `width` columns: right-aligned, or left-aligned for a negative width.
    static func pad(_ text: String, _ width: Int) -> String {
        let fill = String(repeating: " ", count: max(0, abs(width) - text.count))
        return width < 0 ? text + fill : fill + text
    }

    static func boundFormula(_ collective: Collective) -> String {
        switch collective {
        case .allreduce: return "2(n-1)/n of the message"
        case .reduceScatter, .allgather, .alltoall: return "(n-1)/n of the message"
        case .broadcast, .reduce: return "the message, at the root"
        case .barrier: return "nothing"
        }
    }
}
