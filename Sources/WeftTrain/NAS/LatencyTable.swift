import Foundation
import WeftNN

/// Inference latency per candidate op, measured on this machine (one image, one thread,
/// median of repeated forward passes of the op alone at its input shape) and saved as
/// JSON, so an architecture's latency is the sum of its ops' plus the stem and head.
public struct LatencyTable: Codable, Sendable {
    public var space: String
    public var batch: Int
    /// Milliseconds per block, per candidate (block-major, as `SearchSpace.blocks`).
    public var blocks: [[Double]]
    /// Stem and head (fixed parts), milliseconds.
    public var fixed: Double
    public var machine: String

    public func latency(_ architecture: SearchSpace.Architecture) -> Double {
        fixed + zip(blocks, architecture).reduce(0) { $0 + $1.0[$1.1] }
    }

    /// Reads `path` if it was measured for this space, else measures and writes it.
    public static func loadOrMeasure(_ path: String, space: SearchSpace) throws -> LatencyTable {
        if let data = FileManager.default.contents(atPath: path),
           let table = try? JSONDecoder().decode(LatencyTable.self, from: data),
           table.space == space.name, table.blocks.map(\.count) == space.choiceCounts {
            return table
        }
        let table = try measure(space)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let temporary = path + ".tmp"
        try encoder.encode(table).write(to: URL(fileURLWithPath: temporary))
        _ = try FileManager.default.replaceItemAt(URL(fileURLWithPath: path), withItemAt: URL(fileURLWithPath: temporary))
        return table
    }

    static func median(repeats: Int, _ body: () -> Void) -> Double {
        body() // warm-up
        var times: [Double] = []
        for _ in 0..<repeats {
            let t0 = DispatchTime.now().uptimeNanoseconds
            body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
        }
        return times.sorted()[times.count / 2]
    }

    public static func measure(_ space: SearchSpace, repeats: Int = 25) throws -> LatencyTable {
        var blocks: [[Double]] = []
        for block in space.blocks {
            var row: [Double] = []
            for k in block.candidates.indices {
                let spec = try ModelSpec(json: String(decoding: try JSONSerialization.data(withJSONObject: [
                    "input": block.inputShape, "classes": 1, "layers": space.layers(block, k),
                ]), as: UTF8.self), source: "\(block.name) candidate \(k)")
                let model = try Model(spec: spec, seed: 1)
                let x = Tensor(zeros: [1] + block.inputShape)
                row.append(median(repeats: repeats) { _ = model.forward(x, training: false) })
            }
            blocks.append(row)
        }
        // Stem and head: the smallest architecture minus its blocks.
        let smallest = try Model(spec: try space.standaloneSpec(space.smallest, name: "smallest"), seed: 1)
        let x = Tensor(zeros: [1] + space.input)
        let whole = median(repeats: repeats) { _ = smallest.forward(x, training: false) }
        let blockPart = zip(blocks, space.smallest).reduce(0) { $0 + $1.0[$1.1] }
        return LatencyTable(space: space.name, batch: 1, blocks: blocks, fixed: max(0, whole - blockPart),
                            machine: ProcessInfo.processInfo.hostName)
    }
}
