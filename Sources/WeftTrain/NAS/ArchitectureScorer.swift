import Foundation
import WeftNN
import WeftTopology

/// What a candidate architecture costs and how well it does with the supernet's weights.
public struct ArchitectureScore: Codable, Sendable {
    public var architecture: [Int]
    public var description: String
    public var accuracy: Double
    public var parameters: Int
    public var flops: Int
    public var latency_ms: Double
    /// Per-step gradient allreduce of the candidate trained data-parallel on the user's
    /// network (`--topology FILE --ranks N`), from the simulator; nil without a topology.
    public var comm_us: Double?
}

/// Limits a search must respect; nil where none was given.
public struct SearchConstraints: Sendable {
    public var maxParameters: Int?
    public var maxFlops: Int?
    public var maxLatency: Double?
    public var maxComm: Double?

    public init() {}
}

/// Costs architectures (parameters, FLOPs, latency from the table, allreduce time from the
/// simulator) and scores them with inherited weights after batch-norm recalibration.
final class ArchitectureScorer {
    let space: SearchSpace
    let supernet: Supernet
    let latency: LatencyTable
    let forecast: CommunicationForecast?
    let calibration: [Tensor]
    let validation: Dataset
    let validationIndices: [Int]
    private var sizes: [[Int]: (Int, Int)] = [:]
    private var comm: [Int: Double] = [:]

    init(space: SearchSpace, supernet: Supernet, latency: LatencyTable, forecast: CommunicationForecast?,
         calibration: [Tensor], validation: Dataset, validationIndices: [Int]) {
        self.space = space
        self.supernet = supernet
        self.latency = latency
        self.forecast = forecast
        self.calibration = calibration
        self.validation = validation
        self.validationIndices = validationIndices
    }

    /// Parameters and FLOPs of the stand-alone network.
    func size(_ a: SearchSpace.Architecture) throws -> (parameters: Int, flops: Int) {
        if let s = sizes[a] { return s }
        let model = try Model(spec: try space.standaloneSpec(a, name: "candidate"), seed: 1)
        let s = (model.parameterCount, model.flops)
        sizes[a] = s
        return s
    }

    func commMicroseconds(parameters: Int) -> Double? {
        guard let forecast else { return nil }
        if let c = comm[parameters] { return c }
        let c = forecast.allreduce(bytes: parameters * 4).microseconds
        comm[parameters] = c
        return c
    }

    /// Costs only (no accuracy yet).
    func cost(_ a: SearchSpace.Architecture) throws -> ArchitectureScore {
        let (p, f) = try size(a)
        return ArchitectureScore(architecture: a, description: space.describe(a), accuracy: 0, parameters: p, flops: f,
                                 latency_ms: latency.latency(a), comm_us: commMicroseconds(parameters: p))
    }

    func feasible(_ s: ArchitectureScore, _ c: SearchConstraints) -> Bool {
        if let m = c.maxParameters, s.parameters > m { return false }
        if let m = c.maxFlops, s.flops > m { return false }
        if let m = c.maxLatency, s.latency_ms > m { return false }
        if let m = c.maxComm, let v = s.comm_us, v > m { return false }
        return true
    }

    /// Validation accuracy with inherited weights after recalibrating batch norm.
    func score(_ a: SearchSpace.Architecture) throws -> ArchitectureScore {
        var s = try cost(a)
        supernet.select(a)
        supernet.recalibrate(calibration)
        s.accuracy = supernet.accuracy(validation, indices: validationIndices)
        return s
    }

    /// Refuses constraints no architecture can meet, naming the smallest achievable value.
    func checkAchievable(_ c: SearchConstraints) throws {
        let small = try cost(space.smallest)
        let fastest = latency.fixed + latency.blocks.reduce(0) { $0 + ($1.min() ?? 0) }
        if let m = c.maxParameters, small.parameters > m {
            throw TrainingError("no architecture of the space has at most \(m) parameters; the smallest achievable is "
                + "\(small.parameters) (\(space.describe(space.smallest))); raise --max-params")
        }
        if let m = c.maxFlops, small.flops > m {
            throw TrainingError("no architecture of the space needs at most \(m) FLOPs; the smallest achievable is \(small.flops); raise --max-flops")
        }
        if let m = c.maxLatency, fastest > m {
            throw TrainingError(String(format: "no architecture of the space runs in %.4f ms; the smallest achievable is %.4f ms on this machine; raise --max-latency-ms", m, fastest))
        }
        if let m = c.maxComm, let v = small.comm_us, v > m {
            throw TrainingError(String(format: "no architecture's allreduce takes at most %.1f µs on this network; the smallest achievable is %.1f µs; raise --max-comm-us", m, v))
        }
    }
}
