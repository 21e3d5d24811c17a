import Foundation
import WeftNN

/// A one-shot architecture search space, read from JSON:
///
///     {"name": "fmnist", "input": [1, 28, 28], "classes": 10,
///      "stem": {"out": 16, "kernel": 3}, "widths": [0.5, 1.0, 1.5], "head": "flatten",
///      "stages": [{"name": "s1", "out": 24, "stride": 2, "layers": 2,
///                  "ops": ["conv3x3", "conv5x5", "sep3x3", "sep5x5", "dil3x3"]}, …]}
///
/// Each stage is `layers` blocks. The first changes channels (and stride) and chooses an op
/// and a width; the others are residual blocks whose choice also holds `zero`, which
/// removes the block — the depth choice. An op of width m makes `round(m · out)` hidden
/// channels (a k×k conv, a depthwise-separable k×k, or a dilated 3×3), then a 1×1 conv to
/// `out`, each followed by batch norm and ReLU. `skip` (identity) is allowed where the
/// shape does not change. The supernet holds every candidate once (weight sharing); an
/// architecture picks one candidate per block.
public struct SearchSpace: Sendable {
    public struct Stage: Sendable {
        public var name: String
        public var out: Int
        public var stride: Int
        public var layers: Int
        public var ops: [String]
        public var widths: [Double]
    }

    /// One block of the supernet: its candidates as (op, width) pairs; `zero` has width 0.
    public struct Block: Sendable {
        public var stage: Int
        public var layer: Int
        public var inputShape: [Int]
        public var candidates: [(op: String, width: Double)]
        public var optional: Bool
        public var name: String { "\(stageNames[stage]).\(layer)" }
        var stageNames: [String]
    }

    public static let ops = ["conv3x3", "conv5x5", "sep3x3", "sep5x5", "dil3x3", "skip", "zero"]

    public var name: String
    public var input: [Int]
    public var classes: Int
    public var stemOut: Int
    public var stemKernel: Int
    /// `flatten` (dense on the last feature map) or `gap` (global average pool first).
    public var head: String
    public var stages: [Stage]
    public private(set) var blocks: [Block] = []

    public static func load(_ path: String) throws -> SearchSpace {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TrainingError("search space \(path): cannot read the file")
        }
        return try SearchSpace(json: data, source: path)
    }

    public init(json: Data, source: String) throws {
        func fail(_ key: String, _ message: String) -> TrainingError {
            TrainingError("search space \(source): key '\(key)': \(message)")
        }
        guard let top = (try? JSONSerialization.jsonObject(with: json)) as? [String: Any] else {
            throw TrainingError("search space \(source): not a JSON object")
        }
        for key in top.keys where !["name", "input", "classes", "stem", "widths", "stages", "head"].contains(key) {
            throw fail(key, "unknown (allowed: name, input, classes, stem, widths, stages, head)")
        }
        /// A present key of the wrong type is an error, never a silent default.
        func typed<T>(_ dict: [String: Any], _ key: String, _ fallback: T, _ what: String,
                      _ failure: (String, String) -> TrainingError) throws -> T {
            guard let raw = dict[key] else { return fallback }
            guard let value = raw as? T, type(of: raw) != Bool.self || T.self == Bool.self else {
                throw failure(key, "must be \(what), got \(raw is String ? "\"\(raw)\"" : "\(raw)")")
            }
            return value
        }
        head = try typed(top, "head", "flatten", "\"flatten\" or \"gap\"", fail)
        guard ["flatten", "gap"].contains(head) else { throw fail("head", "must be \"flatten\" or \"gap\", got \"\(head)\"") }
        name = try typed(top, "name", (source as NSString).lastPathComponent, "a string", fail)
        guard let input = top["input"] as? [Int], input.count == 3, input.allSatisfy({ $0 > 0 }) else {
            throw fail("input", "must be [channels, height, width], e.g. [1, 28, 28]")
        }
        self.input = input
        guard let classes = top["classes"] as? Int, classes >= 2 else { throw fail("classes", "must be an integer ≥ 2") }
        self.classes = classes
        let stem: [String: Any] = try typed(top, "stem", [:], "an object", fail)
        func stemFail(_ key: String, _ message: String) -> TrainingError { fail("stem.\(key)", message) }
        stemOut = try typed(stem, "out", 16, "an integer", stemFail)
        stemKernel = try typed(stem, "kernel", 3, "an integer", stemFail)
        guard stemOut > 0, stemKernel > 0, stemKernel % 2 == 1 else {
            throw fail("stem", "needs a positive 'out' and an odd 'kernel'")
        }
        // The same bounds as a stage's channels and a model spec's kernels.
        guard stemOut <= 4096, stemKernel <= 255 else {
            throw fail("stem", "'out' must be 1…4096 and 'kernel' an odd 1…255, got \(stemOut) and \(stemKernel)")
        }
        let defaultWidths: [Double] = try typed(top, "widths", [1.0], "a list of numbers", fail)
        guard let stageList = top["stages"] as? [[String: Any]], !stageList.isEmpty else {
            throw fail("stages", "must be a non-empty list of stages")
        }
        stages = []
        var channels = stemOut, size = input[1]
        for (i, s) in stageList.enumerated() {
            let stageName = (s["name"] as? String) ?? "stage\(i + 1)"
            func stageFail(_ key: String, _ message: String) -> TrainingError {
                TrainingError("search space \(source): stage '\(stageName)' key '\(key)': \(message)")
            }
            for key in s.keys where !["name", "out", "stride", "layers", "ops", "widths"].contains(key) {
                throw stageFail(key, "unknown (allowed: name, out, stride, layers, ops, widths)")
            }
            guard let raw = s["out"], type(of: raw) != Bool.self, let out = raw as? Int, (1...4096).contains(out) else {
                throw stageFail("out", "must be a channel count 1…4096")
            }
            if let raw = s["name"], !(raw is String) { throw stageFail("name", "must be a string, got \(raw)") }
            let stride: Int = try typed(s, "stride", 1, "1 or 2", stageFail)
            guard stride == 1 || stride == 2 else { throw stageFail("stride", "must be 1 or 2, got \(stride)") }
            guard size / stride >= 1 else { throw stageFail("stride", "the \(size)×\(size) input cannot be halved again") }
            let layers: Int = try typed(s, "layers", 1, "an integer", stageFail)
            guard (1...64).contains(layers) else { throw stageFail("layers", "must be 1…64, got \(layers)") }
            guard let ops = s["ops"] as? [String] else { throw stageFail("ops", "missing: list the candidate ops") }
            guard !ops.isEmpty else { throw stageFail("ops", "is empty: a choice needs at least one candidate op") }
            for op in ops where !SearchSpace.ops.contains(op) {
                throw stageFail("ops", "unknown op '\(op)' (known: \(SearchSpace.ops.joined(separator: ", ")))")
            }
            if ops.contains("skip") && (channels != out || stride != 1) {
                throw stageFail("ops", "skip cannot connect \(channels) channels at \(size)×\(size) to \(out) channels "
                    + "at \((size + stride - 1) / stride)×\((size + stride - 1) / stride); drop skip or use out = \(channels), stride 1")
            }
            if ops.contains("zero") {
                throw stageFail("ops", "zero is added to the optional layers of a stage by itself (set layers > 1); "
                    + "in the first layer it would cut the network")
            }
            let widths: [Double] = try typed(s, "widths", defaultWidths, "a list of numbers", stageFail)
            // Checked as numbers before any becomes a channel count (1e308 × out is no Int).
            guard !widths.isEmpty, widths.allSatisfy({ $0 > 0 && ($0 * Double(out)).rounded() >= 1 }) else {
                throw stageFail("widths", "must be positive multipliers giving at least one channel of \(out)")
            }
            if let wide = widths.first(where: { !(($0 * Double(out)).rounded() <= 4096) }) {
                throw stageFail("widths", "\(wide) × \(out) channels is more than 4096; use a smaller multiplier")
            }
            stages.append(Stage(name: stageName, out: out, stride: stride, layers: layers, ops: ops, widths: widths))
            channels = out
            size = (size + stride - 1) / stride
        }
        blocks = makeBlocks()
    }

    private func makeBlocks() -> [Block] {
        var blocks: [Block] = []
        var channels = stemOut, size = input[1]
        let names = stages.map(\.name)
        for (i, s) in stages.enumerated() {
            for layer in 0..<s.layers {
                let optional = layer > 0
                var candidates: [(String, Double)] = []
                for op in s.ops where !(optional && op == "skip") {
                    for w in (op == "skip" ? [1.0] : s.widths) { candidates.append((op, w)) }
                }
                if optional { candidates.append(("zero", 0)) }
                blocks.append(Block(stage: i, layer: layer, inputShape: [channels, size, size], candidates: candidates,
                                    optional: optional, stageNames: names))
                if layer == 0 {
                    channels = s.out
                    size = (size + s.stride - 1) / s.stride
                }
            }
        }
        return blocks
    }

    /// An architecture: one candidate index per block.
    public typealias Architecture = [Int]

    public var choiceCounts: [Int] { blocks.map(\.candidates.count) }

    /// The candidate's layers as JSON objects (what a model spec lists).
    func layers(_ block: Block, _ candidate: Int) -> [[String: Any]] {
        let (op, width) = block.candidates[candidate]
        let s = stages[block.stage]
        let stride = block.layer == 0 ? s.stride : 1
        let hidden = Int((width * Double(s.out)).rounded())
        let cin = block.inputShape[0]
        func conv(_ out: Int, _ k: Int, stride: Int = 1, dilation: Int = 1, groups: Int = 1) -> [[String: Any]] {
            [["type": "conv2d", "out": out, "kernel": k, "stride": stride, "padding": dilation * (k / 2),
              "dilation": dilation, "groups": groups], ["type": "batchnorm"], ["type": "relu"]]
        }
        switch op {
        case "conv3x3": return conv(hidden, 3, stride: stride) + conv(s.out, 1)
        case "conv5x5": return conv(hidden, 5, stride: stride) + conv(s.out, 1)
        case "sep3x3": return conv(cin, 3, stride: stride, groups: cin) + conv(hidden, 1) + conv(s.out, 1)
        case "sep5x5": return conv(cin, 5, stride: stride, groups: cin) + conv(hidden, 1) + conv(s.out, 1)
        case "dil3x3": return conv(hidden, 3, stride: stride, dilation: 2) + conv(s.out, 1)
        case "skip": return [["type": "identity"]]
        default: return [["type": "zero"]]
        }
    }

    /// The block as a spec layer: a choice over `candidates` (a residual around it when optional).
    private func blockLayer(_ block: Block, candidates: [Int]) -> [String: Any] {
        let choice: [String: Any] = ["type": "choice", "candidates": candidates.map { layers(block, $0) }]
        return block.optional ? ["type": "residual", "body": [choice]] : choice
    }

    private func spec(name: String, blockLayers: [[String: Any]]) throws -> ModelSpec {
        let text = try specJSON(name: name, blockLayers: blockLayers)
        return try ModelSpec(json: text, source: name)
    }

    private func specJSON(name: String, blockLayers: [[String: Any]]) throws -> String {
        let stem: [[String: Any]] = [["type": "conv2d", "out": stemOut, "kernel": stemKernel, "padding": stemKernel / 2],
                                     ["type": "batchnorm"], ["type": "relu"]]
        let pool: [[String: Any]] = self.head == "gap" ? [["type": "globalavgpool"]] : []
        let head: [[String: Any]] = pool + [["type": "flatten"], ["type": "dense", "out": classes]]
        let object: [String: Any] = ["name": name, "input": input, "classes": classes, "layers": stem + blockLayers + head]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    /// The supernet: every block a choice over all its candidates.
    public func supernetSpec() throws -> ModelSpec {
        try spec(name: "\(name)-supernet", blockLayers: blocks.flatMap { b -> [[String: Any]] in
            // A residual block's sum is re-normalised, so paths that keep or drop it hand
            // the next block (and the head) features on the same scale.
            [blockLayer(b, candidates: Array(b.candidates.indices))] + (b.optional ? [["type": "batchnorm"]] : [])
        })
    }

    /// A stand-alone network for `architecture` (dropped blocks leave no layers).
    public func standaloneSpec(_ architecture: Architecture, name: String) throws -> ModelSpec {
        try ModelSpec(json: try standaloneJSON(architecture, name: name), source: name)
    }

    /// The stand-alone network as a model spec file's text (`weft train dp --model FILE`).
    public func standaloneJSON(_ architecture: Architecture, name: String) throws -> String {
        // First-layer bodies are plain sequences; optional ones stay residual.
        var layers: [[String: Any]] = []
        for (block, choice) in zip(blocks, architecture) {
            // A dropped block keeps its batch norm, as in the supernet.
            guard block.candidates[choice].op != "zero" else {
                layers.append(["type": "batchnorm"])
                continue
            }
            let body = self.layers(block, choice)
            if block.optional {
                layers += [["type": "residual", "body": body], ["type": "batchnorm"]]
            } else {
                layers += body
            }
        }
        return try specJSON(name: name, blockLayers: layers)
    }

    /// Human-readable architecture: block=op@width, …
    public func describe(_ architecture: Architecture) -> String {
        zip(blocks, architecture).map { b, c in
            let (op, w) = b.candidates[c]
            return op == "zero" || op == "skip" ? "\(b.name)=\(op)" : "\(b.name)=\(op)@\(w)"
        }.joined(separator: " ")
    }

    /// The most and least expensive architectures (sandwich rule): widest heaviest op and
    /// every optional block kept; narrowest lightest op and every optional block dropped.
    public var largest: Architecture {
        blocks.map { b in b.candidates.indices.max { cost(b.candidates[$0]) < cost(b.candidates[$1]) }! }
    }

    public var smallest: Architecture {
        blocks.map { b in b.candidates.indices.min { cost(b.candidates[$0]) < cost(b.candidates[$1]) }! }
    }

    /// A rough per-candidate cost order for the sandwich rule (parameters of the op).
    private func cost(_ c: (op: String, width: Double)) -> Double {
        let k: Double = ["conv5x5": 25, "conv3x3": 9, "dil3x3": 9, "sep5x5": 3, "sep3x3": 2, "skip": 0.1, "zero": 0][c.op] ?? 1
        return k * c.width
    }
}
