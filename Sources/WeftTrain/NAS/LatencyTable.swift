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

    /// Reads `path` if it was measured for this space, else measures and writes it. A file
    /// there that is not a latency table (someone's notes) is refused, never overwritten.
    public static func loadOrMeasure(_ path: String, space: SearchSpace) throws -> LatencyTable {
        if let data = FileManager.default.contents(atPath: path) {
            guard let table = try? JSONDecoder().decode(LatencyTable.self, from: data) else {
                throw TrainingError("--latency-table \(path) exists and is not a Weft latency table; name a new file (it is measured and written there) or move that one")
            }
            if table.space == space.name, table.blocks.map(\.count) == space.choiceCounts { return table }
        }
        let table = try measure(space)
        try writeJSONAtomically(table, to: path)
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
        // A model spec must end in its classes, so each op is timed with a 1-output dense
        // after it, and that probe's own time (measured alone) is taken off.
        func timed(_ layers: [[String: Any]], input: [Int], name: String) throws -> Double {
            let probe: [[String: Any]] = [["type": "flatten"], ["type": "dense", "out": 1]]
            let json = try JSONSerialization.data(withJSONObject: ["input": input, "classes": 1, "layers": layers + probe])
            let model = try Model(spec: try ModelSpec(json: String(decoding: json, as: UTF8.self), source: name), seed: 1)
            let x = Tensor(zeros: [1] + input)
            return median(repeats: repeats) { _ = model.forward(x, training: false) }
        }
        for block in space.blocks {
            let probeAlone = try timed([["type": "identity"]], input: block.inputShape, name: "\(block.name) probe")
            var row: [Double] = []
            for k in block.candidates.indices {
                let t = try timed(space.layers(block, k), input: block.inputShape, name: "\(block.name) candidate \(k)")
                row.append(max(0, t - probeAlone))
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
