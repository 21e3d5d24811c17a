import ArgumentParser

/// A size given as a number with an optional binary unit: 8, 4K, 64M, 1G, 2T, 512KiB, 2MB.
struct ByteCount: ExpressibleByArgument, CustomStringConvertible {
    let bytes: Int

    init(bytes: Int) { self.bytes = bytes }

    init?(argument: String) {
        var text = argument.uppercased()
        for suffix in ["IB", "B"] where text.hasSuffix(suffix) {
            text.removeLast(suffix.count)
            break
        }
        var multiplier = 1
        if let unit = text.last, let shift = ["K": 10, "M": 20, "G": 30, "T": 40][String(unit)] {
            multiplier = 1 << shift
            text.removeLast()
        }
        guard let value = Int(text), value >= 0, value <= Int.max / multiplier else { return nil }
        bytes = value * multiplier
    }

    var description: String { ByteCount.format(bytes) }

    static func format(_ bytes: Int) -> String {
        for (shift, unit) in [(40, "T"), (30, "G"), (20, "M"), (10, "K")] where bytes >= 1 << shift && bytes % (1 << shift) == 0 {
            return "\(bytes >> shift)\(unit)"
        }
        return "\(bytes)"
    }
}
