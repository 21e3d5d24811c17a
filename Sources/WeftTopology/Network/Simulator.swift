import HeapModule

/// Replays a schedule on a modelled network: every transfer of a step is a flow routed
/// over directed channels; flows sharing a channel share its bandwidth max-min fairly
/// (progressive filling, recomputed whenever flows finish); each flow also pays the
/// latency of every channel on its path, and each step a software overhead. Steps are
/// synchronous (a step ends when its last flow does), so predictions are conservative.
/// A transfer between two ranks on one endpoint (a host's cores behind one NIC) is a memory
/// copy: it goes through that endpoint's memory channel (`Network.memory`), which all the
/// host's copies share, and never touches a link.
///
/// Scale: steps with the same traffic pattern take the same time and are simulated once.
/// A pattern is the multiset of (source, destination, size) flows, keyed by an
/// order-independent 128-bit hash, and sizes are rounded up to 6 significant bits (at
/// least 64 B) — at most 1/32 more bytes, never fewer, so a ring whose chunks differ by one
/// element still has one pattern per phase and an allreduce on 16K endpoints runs in seconds.
public final class Simulator {
    public let network: Network
    public let router: Router
    public let placement: [Int]
    /// Per-message software overhead (MPI call, matching) per step.
    public var overhead: Double = 0.5e-6
    /// Largest message simulated: 1 PiB, a gradient of 2^48 floats (a thousand times the
    /// largest models), while sizes, offsets and their rounding stay far from Int's limit.
    public static let maximumBytes = 1 << 50
    /// Most ranks `weft topo simulate` replays. Every step's flows are walked, so a ring
    /// (2(n−1) steps of n flows) costs n²: on our 2-core machine 16K ranks take about 20 s
    /// (the 16,512-endpoint dragonfly of docs/TOPOLOGIES.md), 32K about 100 s, 64K over 5 minutes.
    public static let maximumRanks = 32_768
    public static let maximumRanksCost = "a ring's cost grows with the square of the ranks: 32K ranks take about 100 s"

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

    struct PatternKey: Hashable {
        var sum: UInt64
        var mixed: UInt64
        var flows: Int
    }

    /// One flow of a step: endpoints and bytes (rounded).
    struct Flow {
        var from: Int32
        var to: Int32
        var bytes: Int
    }

    private var memo: [PatternKey: Double] = [:]
    /// Rate re-allocations per step before the remaining flows keep their rates.
    static let waveLimit = 8

    public init(network: Network, router: Router, placement: [Int]) {
        self.network = network
        self.router = router
        self.placement = placement
    }

    /// Bytes rounded up to 6 significant bits, at least 64.
    static func rounded(_ bytes: Int) -> Int {
        guard bytes > 64 else { return 64 }
        let shift = max(0, (Int.bitWidth - bytes.leadingZeroBitCount) - 6)
        return ((bytes + (1 << shift) - 1) >> shift) << shift
    }

    @inline(__always) private static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Predicted time of `schedule` for a message of `bytes` (elements of `elementSize`).
    public func simulate(_ schedule: Schedule, bytes: Int, elementSize: Int = 4) -> Result {
        simulate(schedule, sizes: [bytes], elementSize: elementSize)[0]
    }

    /// Predicted times of `schedule` for several message sizes in one walk over its steps
    /// (the planner's sweep over every power of two costs about one size, not 28).
    public func simulate(_ schedule: Schedule, sizes: [Int], elementSize: Int = 4) -> [Result] {
        var totals = [Double](repeating: 0, count: sizes.count)
        let (flows, distinct) = replay(schedule, sizes: sizes, elementSize: elementSize) { k, t in totals[k] += t }
        return sizes.indices.map { k in
            Result(time_us: totals[k] * 1e6, steps: schedule.stepCount, distinct_steps: distinct, flows: flows,
                   bytes: sizes[k], ranks: schedule.ranks, collective: schedule.collective.rawValue,
                   algorithm: schedule.algorithm.rawValue)
        }
    }

    /// Predicted seconds of every step (what the emulated fabric holds each step for).
    public func stepTimes(_ schedule: Schedule, bytes: Int, elementSize: Int = 4) -> [Double] {
        var times: [Double] = []
        times.reserveCapacity(schedule.stepCount)
        _ = replay(schedule, sizes: [bytes], elementSize: elementSize) { _, t in times.append(t) }
        return times
    }

    /// Bytes the busiest link of each class carries in one direction over the whole
    /// schedule, and that link's busy time (bytes over bandwidth), slowest class first:
    /// where the time goes, for `weft topo plan --explain`.
    public struct LinkLoad: Codable, Sendable {
        public var link_class: String
        public var bytes: Double
        public var busy_us: Double
    }

    public func linkLoads(_ schedule: Schedule, bytes: Int, elementSize: Int = 4) -> [LinkLoad] {
        var carried = [Double](repeating: 0, count: network.channelCount)
        _ = replay(schedule, sizes: [bytes], elementSize: elementSize, carried: &carried) { _, _ in }
        // Per class (memory channels as class -1): the busiest channel's bytes.
        var busiest: [Int: Double] = [:]
        for (c, b) in carried.enumerated() where b > 0 {
            let cls = c < 2 * network.links.count ? network.links[c / 2].linkClass : -1
            busiest[cls] = max(busiest[cls] ?? 0, b)
        }
        return busiest.map { cls, b in
            let linkClass = cls < 0 ? network.memory : network.classes[cls]
            return LinkLoad(link_class: linkClass.name, bytes: b, busy_us: b / linkClass.bandwidth * 1e6)
        }.sorted { $0.busy_us > $1.busy_us }
    }

    private func replay(_ schedule: Schedule, sizes: [Int], elementSize: Int, stepDone: (Int, Double) -> Void)
        -> (flows: Int, distinct: Int)
    {
        var none: [Double] = []
        return replay(schedule, sizes: sizes, elementSize: elementSize, carried: &none, stepDone: stepDone)
    }

    /// Simulates every step in order, for every size, handing each step's time to
    /// `stepDone(size index, seconds)`; adds each channel's bytes to `carried` when it is
    /// not empty. Returns the number of flows and of distinct patterns (of the first size).
    private func replay(_ schedule: Schedule, sizes: [Int], elementSize: Int, carried: inout [Double],
                        stepDone: (Int, Double) -> Void) -> (flows: Int, distinct: Int)
    {
        let layout = schedule.layout
        let blockCounts = sizes.map { bytes -> Int in
            let count = bytes / elementSize
            return schedule.collective.isBlockwise ? count / max(schedule.ranks, 1) : count
        }
        var flowCount = 0, distinct = Set<PatternKey>()
        var pairs: [(from: Int32, to: Int32, chunks: ChunkRange)] = []
        var flows: [Flow] = []
        for index in 0..<schedule.stepCount {
            pairs.removeAll(keepingCapacity: true)
            func add(_ from: Int, _ to: Int, _ chunks: ChunkRange) {
                pairs.append((Int32(placement[from]), Int32(placement[to]), chunks))
            }
            for op in schedule.step(index) {
                switch op {
                case .transfer(let from, let to, let source, _, _):
                    add(from, to, source)
                case .shared(let rank, let from, let source, let to, _, _):
                    for q in from.map({ [$0] }) ?? Array(0..<schedule.ranks) where q != rank { add(q, rank, source) }
                    for q in to.map({ [$0] }) ?? Array(0..<schedule.ranks) where q != rank { add(rank, q, source) }
                case .localCopy:
                    break
                }
            }
            flowCount += pairs.count
            for (k, blockCount) in blockCounts.enumerated() {
                flows.removeAll(keepingCapacity: true)
                var key = PatternKey(sum: 0, mixed: 0, flows: 0)
                for (a, b, r) in pairs {
                    let size = (layout.elementOffset(ofChunk: r.start + r.count, blockCount: blockCount)
                        - layout.elementOffset(ofChunk: r.start, blockCount: blockCount)) * elementSize
                    let flow = Flow(from: a, to: b, bytes: Simulator.rounded(size))
                    let h = Simulator.mix(UInt64(a) << 40 ^ UInt64(b) << 16 ^ UInt64(flow.bytes.trailingZeroBitCount))
                    let h2 = Simulator.mix(h ^ UInt64(flow.bytes))
                    key.sum &+= h2
                    key.mixed ^= Simulator.mix(h2 &+ 1)
                    key.flows += 1
                    flows.append(flow)
                }
                if k == 0 { distinct.insert(key) }
                if !carried.isEmpty {
                    for (f, flow) in flows.enumerated() {
                        for c in path(flow, index: f) { carried[c] += Double(flow.bytes) }
                    }
                }
                if let t = memo[key] {
                    stepDone(k, t)
                    continue
                }
                let t = stepTime(flows) + overhead
                memo[key] = t
                stepDone(k, t)
            }
        }
        return (flowCount, distinct.count)
    }

    /// The channels `flow` (the `index`th of its step) crosses: its route, or the memory
    /// channel of its endpoint when both ranks share one.
    private func path(_ flow: Flow, index: Int, load: ((Int) -> Int)? = nil) -> [Int] {
        if flow.from == flow.to { return [network.memoryChannel(Int(flow.from))] }
        return router.route(from: Int(flow.from), to: Int(flow.to), flow: UInt64(index), load: load)
    }

    /// Completion time of one step's flows under max-min fair sharing.
    func stepTime(_ flows: [Flow]) -> Double {
        let n = network
        var load = [Int32](repeating: 0, count: n.channelCount)
        var paths: [[Int]] = [], remaining: [Double] = [], latency: [Double] = []
        paths.reserveCapacity(flows.count)
        for (k, flow) in flows.enumerated() {
            let path = path(flow, index: k, load: { Int(load[$0]) })
            for c in path { load[c] += 1 }
            paths.append(path)
            remaining.append(Double(flow.bytes))
            latency.append(path.reduce(0) { $0 + n.latency(ofChannel: $1) })
        }
        var finish = [Double](repeating: 0, count: paths.count)
        var active = Array(paths.indices).filter { remaining[$0] > 0 }
        var now = 0.0
        var filler = RateFiller(network: n)
        var waves = 0
        while !active.isEmpty {
            waves += 1
            let rates = filler.maxMinRates(active.map { paths[$0] })
            // Flows finishing within 2% of the first one end together in this wave (each at
            // its own time); the rest keep their rates until the wave's end. After
            // `waveLimit` re-allocations every flow keeps its rate to the end: freed
            // bandwidth is no longer handed on, which makes the step slower, not faster
            // (on the 1K dragonfly the result moves by < 0.01%, the run 3× faster).
            var first = Double.infinity
            for (k, f) in active.enumerated() { first = min(first, remaining[f] / rates[k]) }
            var dt = 0.0
            for (k, f) in active.enumerated() where waves >= Simulator.waveLimit || remaining[f] / rates[k] <= first * 1.02 {
                dt = max(dt, remaining[f] / rates[k])
            }
            var still: [Int] = []
            for (k, f) in active.enumerated() {
                let need = remaining[f] / rates[k]
                if need <= dt {
                    finish[f] = now + need
                } else {
                    remaining[f] -= rates[k] * dt
                    still.append(f)
                }
            }
            now += dt
            active = still
        }
        var step = 0.0
        for f in paths.indices { step = max(step, finish[f] + latency[f]) }

        return step
    }
}

/// Max-min fair rates by progressive filling: repeatedly saturate the channel with the
/// smallest fair share and freeze its flows. Per-channel state lives in arrays indexed by
/// channel and is reset only where touched, so a call costs O(flows · hops · log).
struct RateFiller {
    let network: Network
    private var capacity: [Double]
    private var unfrozen: [Int32]
    private var users: [[Int32]]

    init(network: Network) {
        self.network = network
        let channels = network.channelCount
        capacity = Array(repeating: -1, count: channels)
        unfrozen = Array(repeating: 0, count: channels)
        users = Array(repeating: [], count: channels)
    }

    struct Entry: Comparable {
        var share: Double
        var channel: Int
        static func < (a: Entry, b: Entry) -> Bool { a.share < b.share }
    }

    mutating func maxMinRates(_ paths: [[Int]]) -> [Double] {
        var touched: [Int] = []
        for (f, path) in paths.enumerated() {
            for c in path {
                if capacity[c] < 0 {
                    capacity[c] = network.bandwidth(ofChannel: c)
                    touched.append(c)
                }
                users[c].append(Int32(f))
                unfrozen[c] += 1
            }
        }
        var rate = [Double](repeating: 0, count: paths.count)
        var frozen = [Bool](repeating: false, count: paths.count)
        var heap = Heap<Entry>(touched.map { Entry(share: capacity[$0] / Double(unfrozen[$0]), channel: $0) })
        while let entry = heap.popMin() {
            let c = entry.channel
            let left = unfrozen[c]
            guard left > 0 else { continue }
            let share = max(capacity[c], 0) / Double(left)
            if abs(share - entry.share) > 1e-12 * max(share, 1) { continue } // stale entry
            for f in users[c] where !frozen[Int(f)] {
                frozen[Int(f)] = true
                rate[Int(f)] = share
                for d in paths[Int(f)] {
                    capacity[d] -= share
                    unfrozen[d] -= 1
                    if d != c, unfrozen[d] > 0 {
                        heap.insert(Entry(share: max(capacity[d], 0) / Double(unfrozen[d]), channel: d))
                    }
                }
            }
        }
        for c in touched {
            capacity[c] = -1
            unfrozen[c] = 0
            users[c].removeAll(keepingCapacity: true)
        }
        return rate.map { max($0, 1) }
    }
}
