import HeapModule

/// Replays a schedule on a modelled network: every transfer of a step is a flow routed
/// over directed channels; flows sharing a channel share its bandwidth max-min fairly
/// (progressive filling, recomputed whenever flows finish); each flow also pays the
/// latency of every channel on its path, and each step a software overhead. Steps are
/// synchronous (a step ends when its last flow does), so predictions are conservative.
/// Steps with the same traffic pattern take the same time and are simulated once, which
/// is what lets a ring allreduce on 16K endpoints finish in seconds.
public final class Simulator {
    public let network: Network
    public let router: Router
    public let placement: [Int]
    /// Per-message software overhead (MPI call, matching) per step.
    public var overhead: Double = 0.5e-6

    public struct Result: Codable, Sendable {
        public var time_us: Double
        public var steps: Int
        public var distinct_steps: Int
        public var flows: Int
        public var bytes: Int
        public var ranks: Int
        public var collective: String
        public var algorithm: String
    }

    private var memo: [[Int]: Double] = [:]

    public init(network: Network, router: Router, placement: [Int]) {
        self.network = network
        self.router = router
        self.placement = placement
    }

    /// Predicted time of `schedule` for a message of `bytes` (elements of `elementSize`).
    public func simulate(_ schedule: Schedule, bytes: Int, elementSize: Int = 4) -> Result {
        let count = bytes / elementSize
        let layout = schedule.layout
        let blockCount = schedule.collective.isBlockwise ? count / max(schedule.ranks, 1) : count
        func size(_ r: ChunkRange) -> Int {
            (layout.elementOffset(ofChunk: r.start + r.count, blockCount: blockCount)
                - layout.elementOffset(ofChunk: r.start, blockCount: blockCount)) * elementSize
        }
        var total = 0.0, flows = 0, distinct = Set<[Int]>()
        for step in schedule.steps {
            // Pattern: (source endpoint, destination endpoint, bytes), merged per pair.
            var pairs: [Int: Int] = [:]
            for op in step {
                switch op {
                case .transfer(let from, let to, let source, _, _):
                    pairs[placement[from] * network.endpoints + placement[to], default: 0] += size(source)
                case .shared(let rank, let from, let source, let to, _, _):
                    let b = size(source)
                    for q in from.map({ [$0] }) ?? Array(0..<schedule.ranks) where q != rank {
                        pairs[placement[q] * network.endpoints + placement[rank], default: 0] += b
                    }
                    for q in to.map({ [$0] }) ?? Array(0..<schedule.ranks) where q != rank {
                        pairs[placement[rank] * network.endpoints + placement[q], default: 0] += b
                    }
                case .localCopy:
                    break
                }
            }
            var key: [Int] = []
            key.reserveCapacity(pairs.count * 2)
            for (pair, b) in pairs.sorted(by: { $0.key < $1.key }) {
                key.append(pair)
                key.append(b)
            }
            flows += pairs.count
            distinct.insert(key)
            if let t = memo[key] {
                total += t
                continue
            }
            let t = stepTime(pairs) + overhead
            memo[key] = t
            total += t
        }
        return Result(time_us: total * 1e6, steps: schedule.steps.count, distinct_steps: distinct.count, flows: flows,
                      bytes: bytes, ranks: schedule.ranks, collective: schedule.collective.rawValue,
                      algorithm: schedule.algorithm.rawValue)
    }

    /// Completion time of one step's flows under max-min fair sharing.
    func stepTime(_ pairs: [Int: Int]) -> Double {
        let n = network
        var load = [Int: Int]()
        var paths: [[Int]] = [], remaining: [Double] = [], latency: [Double] = []
        for (pair, bytes) in pairs.sorted(by: { $0.key < $1.key }) {
            let a = pair / n.endpoints, b = pair % n.endpoints
            guard a != b else { continue }
            let path = router.route(from: a, to: b, flow: UInt64(pair), load: { load[$0] ?? 0 })
            for c in path { load[c, default: 0] += 1 }
            paths.append(path)
            remaining.append(Double(bytes))
            latency.append(path.reduce(0) { $0 + n.latency(ofChannel: $1) })
        }
        var finish = [Double](repeating: 0, count: paths.count)
        var active = Array(paths.indices).filter { remaining[$0] > 0 }
        var now = 0.0
        while !active.isEmpty {
            let rates = maxMinRates(active.map { paths[$0] })
            var dt = Double.infinity
            for (k, f) in active.enumerated() { dt = min(dt, remaining[f] / rates[k]) }
            now += dt
            var still: [Int] = []
            for (k, f) in active.enumerated() {
                remaining[f] -= rates[k] * dt
                if remaining[f] <= 1e-6 * max(1, rates[k] * dt) {
                    finish[f] = now
                } else {
                    still.append(f)
                }
            }
            active = still
        }
        var step = 0.0
        for f in paths.indices { step = max(step, finish[f] + latency[f]) }
        return step
    }

    /// Progressive filling: repeatedly saturate the channel with the smallest fair share.
    func maxMinRates(_ paths: [[Int]]) -> [Double] {
        var capacity: [Int: Double] = [:], users: [Int: [Int]] = [:]
        for (f, path) in paths.enumerated() {
            for c in path {
                if capacity[c] == nil { capacity[c] = network.bandwidth(ofChannel: c) }
                users[c, default: []].append(f)
            }
        }
        var unfrozen: [Int: Int] = users.mapValues(\.count)
        var rate = [Double](repeating: 0, count: paths.count)
        var frozen = [Bool](repeating: false, count: paths.count)
        struct Entry: Comparable {
            var share: Double
            var channel: Int
            static func < (a: Entry, b: Entry) -> Bool { a.share < b.share }
        }
        var heap = Heap<Entry>(users.keys.map { Entry(share: capacity[$0]! / Double(unfrozen[$0]!), channel: $0) })
        while let entry = heap.popMin() {
            let c = entry.channel
            guard let left = unfrozen[c], left > 0 else { continue }
            let share = capacity[c]! / Double(left)
            if abs(share - entry.share) > 1e-12 * share { continue } // stale entry
            for f in users[c]! where !frozen[f] {
                frozen[f] = true
                rate[f] = share
                for d in paths[f] {
                    capacity[d]! -= share
                    unfrozen[d]! -= 1
                    if d != c, unfrozen[d]! > 0 { heap.insert(Entry(share: max(capacity[d]!, 0) / Double(unfrozen[d]!), channel: d)) }
                }
            }
        }
        return rate.map { max($0, 1) }
    }
}
