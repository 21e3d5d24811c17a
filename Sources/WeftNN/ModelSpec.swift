import Foundation

/// A model as data: input shape, classes and a list of layers, read from JSON so that
/// architectures found by search can be trained later. Strict: unknown layer types and
/// unknown keys are errors that name the layer.
///
///     {"name": "cnn", "input": [1, 28, 28], "classes": 10, "layers": [
///       {"type": "conv2d", "out": 16, "kernel": 3, "padding": 1}, {"type": "relu"},
///       {"type": "maxpool", "kernel": 2}, {"type": "flatten"}, {"type": "dense", "out": 10}]}
public struct ModelSpec: Sendable {
    public var name: String
    public var input: [Int]
    public var classes: Int
    /// The layers as parsed JSON objects (kept to rebuild and to hash).
    public var layers: [[String: JSONValue]]

    public static let knownTypes = ["dense", "conv2d", "maxpool", "avgpool", "globalavgpool", "batchnorm", "layernorm",
                                    "relu", "gelu", "dropout", "flatten", "residual", "highway", "choice", "identity", "zero"]

    /// The reference MLP: 784-256-128-10 with ReLU.
    public static let mlp = try! ModelSpec(json: """
        {"name": "mlp", "input": [1, 28, 28], "classes": 10, "layers": [
          {"type": "flatten"}, {"type": "dense", "out": 256}, {"type": "relu"},
          {"type": "dense", "out": 128}, {"type": "relu"}, {"type": "dense", "out": 10}]}
        """, source: "built-in mlp")

    /// The reference CNN: conv3x3·16 → pool → conv3x3·32 → pool → dense 64 → 10.
    public static let cnn = try! ModelSpec(json: """
        {"name": "cnn", "input": [1, 28, 28], "classes": 10, "layers": [
          {"type": "conv2d", "out": 16, "kernel": 3, "padding": 1}, {"type": "relu"}, {"type": "maxpool", "kernel": 2},
          {"type": "conv2d", "out": 32, "kernel": 3, "padding": 1}, {"type": "relu"}, {"type": "maxpool", "kernel": 2},
          {"type": "flatten"}, {"type": "dense", "out": 64}, {"type": "relu"}, {"type": "dense", "out": 10}]}
        """, source: "built-in cnn")

    /// `mlp`, `cnn`, or a path to a JSON spec file.
    public static func named(_ name: String) throws -> ModelSpec {
        switch name {
        case "mlp": return mlp
        case "cnn": return cnn
        default:
            guard let data = FileManager.default.contents(atPath: name) else {
                throw ModelSpecError("model spec \(name): cannot read the file (or use --model mlp or cnn)")
            }
            return try ModelSpec(json: String(decoding: data, as: UTF8.self), source: name)
        }
    }

    public init(json: String, source: String) throws {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(json.utf8))
        } catch {
            throw ModelSpecError("model spec \(source): not valid JSON (\(error.localizedDescription))")
        }
        guard let top = JSONValue(object)?.object else { throw ModelSpecError("model spec \(source): expected a JSON object") }
        for key in top.keys where !["name", "input", "classes", "layers"].contains(key) {
            throw ModelSpecError("model spec \(source): unknown key '\(key)' (expected name, input, classes, layers)")
        }
        name = top["name"]?.string ?? (source as NSString).lastPathComponent
        guard let input = top["input"]?.integers, !input.isEmpty, input.allSatisfy({ $0 > 0 }) else {
            throw ModelSpecError("model spec \(source): 'input' must be a list of positive sizes, e.g. [1, 28, 28]")
        }
        self.input = input
        guard let classes = top["classes"]?.integer, classes > 0 else {
            throw ModelSpecError("model spec \(source): 'classes' must be a positive integer")
        }
        self.classes = classes
        guard let list = top["layers"]?.array, !list.isEmpty else {
            throw ModelSpecError("model spec \(source): 'layers' must be a non-empty list")
        }
        layers = try list.enumerated().map { index, value in
            guard let layer = value.object else { throw ModelSpecError("model spec \(source): layer \(index) is not an object") }
            return layer
        }
        let count = ModelSpec.layerCount(layers)
        guard count <= ModelSpec.maxLayers else {
            throw ModelSpecError("model spec \(source): \(count) layers (counting those inside residual and choice "
                + "layers), more than the \(ModelSpec.maxLayers) allowed; use fewer layers")
        }
        // Validate every layer now, so errors come before any training.
        _ = try ModelSpec.makeLayers(layers, source: source, path: "layer ")
    }

    /// The most layers a spec may hold, nested ones included. Every layer caches its
    /// activations for the backward pass, so memory grows with depth: 200,000 ReLUs took
    /// more than 24 GiB. The supernet of examples/nas-space.json has about 320.
    public static let maxLayers = 10_000

    /// Layers of `specs`, counting those inside residual bodies and choice candidates.
    static func layerCount(_ specs: [[String: JSONValue]]) -> Int {
        specs.reduce(0) { total, spec in
            let body = spec["body"]?.array?.compactMap(\.object) ?? []
            let candidates = spec["candidates"]?.array?.map { $0.array?.compactMap(\.object) ?? [] } ?? []
            return total + 1 + layerCount(body) + candidates.reduce(0) { $0 + layerCount($1) }
        }
    }

    /// Builds fresh layer objects for the spec.
    public func makeNetwork() throws -> Sequential {
        Sequential(try ModelSpec.makeLayers(layers, source: name, path: "layer "))
    }

    static func makeLayers(_ specs: [[String: JSONValue]], source: String, path: String) throws -> [Layer] {
        try specs.enumerated().map { index, spec in try makeLayer(spec, source: source, at: "\(path)\(index)") }
    }

    private static func makeLayer(_ spec: [String: JSONValue], source: String, at where_: String) throws -> Layer {
        func fail(_ message: String) -> ModelSpecError { ModelSpecError("model spec \(source): \(where_): \(message)") }
        guard let type = spec["type"]?.string else { throw fail("missing 'type'") }
        let allowed: [String]
        switch type {
        case "dense": allowed = ["out"]
        case "conv2d": allowed = ["out", "kernel", "stride", "padding", "dilation", "groups"]
        case "maxpool", "avgpool": allowed = ["kernel", "stride"]
        case "dropout": allowed = ["rate"]
        case "residual": allowed = ["body"]
        case "choice": allowed = ["candidates", "active"]
        case "globalavgpool", "batchnorm", "layernorm", "relu", "gelu", "flatten", "highway", "identity", "zero": allowed = []
        default: throw fail("unknown layer type '\(type)' (known: \(knownTypes.joined(separator: ", ")))")
        }
        for key in spec.keys where key != "type" && !allowed.contains(key) {
            throw fail("unknown key '\(key)' for \(type) (allowed: \(allowed.isEmpty ? "none" : allowed.joined(separator: ", ")))")
        }
        func int(_ key: String, default value: Int? = nil) throws -> Int {
            if let v = spec[key] {
                guard let i = v.integer else { throw fail("'\(key)' must be an integer") }
                // Bounds far above any Fashion-MNIST model, far below what exhausts memory
                // (a dense layer of 1e9 outputs would try to allocate gigabytes per input).
                let range = key == "padding" ? 0...256 : key == "out" || key == "groups" ? 1...65536 : 1...256
                guard range.contains(i) else { throw fail("'\(key)' must be \(range.lowerBound)…\(range.upperBound), got \(i)") }
                return i
            }
            guard let value else { throw fail("\(type) needs '\(key)'") }
            return value
        }
        switch type {
        case "dense": return Dense(try int("out"))
        case "conv2d":
            return Conv2D(try int("out"), kernel: try int("kernel"), stride: try int("stride", default: 1),
                          padding: try int("padding", default: 0), dilation: try int("dilation", default: 1),
                          groups: try int("groups", default: 1))
        case "maxpool": return Pool2D(.max, kernel: try int("kernel"), stride: try int("stride", default: try int("kernel")))
        case "avgpool":
            return Pool2D(.average, kernel: try int("kernel"), stride: try int("stride", default: try int("kernel")))
        case "globalavgpool": return GlobalAveragePool()
        case "batchnorm": return BatchNorm()
        case "layernorm": return LayerNorm()
        case "relu": return ReLU()
        case "gelu": return GELU()
        case "flatten": return Flatten()
        case "highway": return Highway()
        case "identity": return Identity()
        case "zero": return Zero()
        case "dropout":
            guard let rate = spec["rate"]?.number else { throw fail("dropout needs a numeric 'rate'") }
            return Dropout(Float(rate))
        case "residual":
            guard let body = spec["body"]?.array?.compactMap(\.object), !body.isEmpty else {
                throw fail("residual needs a non-empty 'body' list of layers")
            }
            return Residual(Sequential(try makeLayers(body, source: source, path: "\(where_).body.")))
        default: // choice
            guard let candidates = spec["candidates"]?.array, !candidates.isEmpty else {
                throw fail("choice needs a non-empty 'candidates' list (each a list of layers)")
            }
            let built = try candidates.enumerated().map { k, c -> Layer in
                guard let layers = c.array?.compactMap(\.object) else { throw fail("candidate \(k) must be a list of layers") }
                return Sequential(try makeLayers(layers, source: source, path: "\(where_).candidate \(k)."))
            }
            let choice = Choice(built)
            choice.active = try int("active", default: 0)
            guard choice.active >= 0 && choice.active < built.count else {
                throw fail("'active' \(choice.active) is not a candidate index (0…\(built.count - 1))")
            }
            return choice
        }
    }

    /// A stable text of the spec, for checkpoint signatures.
    public var canonical: String {
        "\(input)|\(classes)|" + layers.map { JSONValue.object($0).canonical }.joined(separator: ";")
    }
}

public struct ModelSpecError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Parsed JSON, as a value type (JSONSerialization does the parsing).
public indirect enum JSONValue: Sendable, Equatable {
    case number(Double), string(String), bool(Bool), array([JSONValue]), object([String: JSONValue]), null

    init?(_ any: Any) {
        switch any {
        case let n as NSNumber: self = .number(n.doubleValue)
        case let s as String: self = .string(s)
        case let a as [Any]: self = .array(a.compactMap(JSONValue.init))
        case let o as [String: Any]: self = .object(o.compactMapValues(JSONValue.init))
        case is NSNull: self = .null
        default: return nil
        }
    }

    var object: [String: JSONValue]? { if case .object(let o) = self { return o } else { return nil } }
    var array: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    var string: String? { if case .string(let s) = self { return s } else { return nil } }
    var number: Double? { if case .number(let n) = self { return n } else { return nil } }
    var integer: Int? { number.flatMap { $0 == $0.rounded() && abs($0) < 1e15 ? Int($0) : nil } }
    var integers: [Int]? {
        guard let a = array else { return nil }
        let values = a.compactMap(\.integer)
        return values.count == a.count ? values : nil
    }

    var canonical: String {
        switch self {
        case .number(let n): return String(n)
        case .string(let s): return "\"\(s)\""
        case .bool(let b): return String(b)
        case .null: return "null"
        case .array(let a): return "[" + a.map(\.canonical).joined(separator: ",") + "]"
        case .object(let o): return "{" + o.keys.sorted().map { "\($0):\(o[$0]!.canonical)" }.joined(separator: ",") + "}"
        }
    }
}
