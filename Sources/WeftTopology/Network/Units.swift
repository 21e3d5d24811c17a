/// Readable bandwidth and latency strings: "25GB/s", "100Gb/s", "200Gbps", "1.5TB/s";
/// "100ns", "1.2us", "1µs", "2ms". Bytes are decimal (1 GB/s = 10⁹ B/s), as vendors quote.
public enum Units {
    /// Bytes per second, or nil when the text is not a positive bandwidth with a unit.
    public static func bandwidth(_ text: String) -> Double? {
        let t = text.trimmingCharacters(in: .whitespaces)
        let units: [(String, Double)] = [
            ("TB/s", 1e12), ("GB/s", 1e9), ("MB/s", 1e6), ("KB/s", 1e3), ("kB/s", 1e3), ("B/s", 1),
            ("Tb/s", 1e12 / 8), ("Gb/s", 1e9 / 8), ("Mb/s", 1e6 / 8), ("Tbps", 1e12 / 8), ("Gbps", 1e9 / 8),
            ("Mbps", 1e6 / 8),
        ]
        for (suffix, scale) in units where t.hasSuffix(suffix) {
            guard let v = Double(t.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), v > 0, v.isFinite
            else { return nil }
            return v * scale
        }
        return nil
    }

    /// Seconds, or nil when the text is not a non-negative latency with a unit.
    public static func latency(_ text: String) -> Double? {
        let t = text.trimmingCharacters(in: .whitespaces)
        for (suffix, scale) in [("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("ms", 1e-3), ("s", 1.0)] where t.hasSuffix(suffix) {
            guard let v = Double(t.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), v >= 0, v.isFinite
            else { return nil }
            return v * scale
        }
        return nil
    }

    public static func formatBandwidth(_ bytesPerSecond: Double) -> String {
        bytesPerSecond >= 1e9 ? "\(trim(bytesPerSecond / 1e9))GB/s" : "\(trim(bytesPerSecond / 1e6))MB/s"
    }

    public static func formatLatency(_ seconds: Double) -> String {
        seconds >= 1e-6 ? "\(trim(seconds * 1e6))us" : "\(trim(seconds * 1e9))ns"
    }

    static func trim(_ v: Double) -> String {
        v == v.rounded() ? String(Int(v)) : String(format: "%.3g", v)
    }
}

import Foundation
