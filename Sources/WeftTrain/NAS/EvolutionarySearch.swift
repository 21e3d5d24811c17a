import Foundation
import Weft
import WeftNN

/// Regularized evolution (Real et al. 2019) over a trained supernet: a population of
/// architectures; each cycle every rank takes a tournament of `tournament` members, the
/// fittest (and, with probability `crossover`, a second winner for a uniform crossover)
/// make a child by mutating `mutations` choices, and the oldest members age out. Children
/// that break a constraint are redrawn (never scored). Children of one cycle are scored in
/// parallel, one per rank, and shared with an allgather, so every rank keeps the same
/// population. A random search with the same number of scored architectures runs as the
/// baseline.
public struct EvolutionarySearch {
    public var population = 24
    public var cycles = 20
    public var tournament = 6
    public var mutations = 1
    public var crossover = 0.25
    public var seed: UInt64 = 1

    public init() {}

    struct Random {
        var state: SeededRandom
        mutating func below(_ n: Int) -> Int { Int(state.next() % UInt64(max(n, 1))) }
        mutating func unit() -> Double { Double(state.next() >> 11) / Double(1 << 53) }
    }

    /// Scores `architectures` split across ranks; every rank returns all scores in order.
    static func scoreAll(_ architectures: [SearchSpace.Architecture], scorer: ArchitectureScorer,
                         world: Communicator) throws -> [ArchitectureScore] {
        let fields = 1
        var values = [Double](repeating: 0, count: architectures.count * fields)
        for (i, a) in architectures.enumerated() where i % world.size == world.rank {
            values[i] = try scorer.score(a).accuracy
        }
        if world.size > 1 { try world.allreduce(&values, op: .sum, algorithm: .mpi) }
        return try architectures.enumerated().map { i, a in
            var s = try scorer.cost(a)
            s.accuracy = values[i]
            return s
        }
    }

    /// A random architecture meeting the constraints (up to 10,000 draws).
    static func feasibleRandom(_ space: SearchSpace, scorer: ArchitectureScorer, constraints: SearchConstraints,
                               random: inout Random) throws -> SearchSpace.Architecture {
        for _ in 0..<10_000 {
            let a = space.choiceCounts.map { random.below($0) }
            if scorer.feasible(try scorer.cost(a), constraints) { return a }
        }
        throw TrainingError("10,000 random architectures all broke the constraints; loosen them")
    }

    public struct Outcome {
        public var history: [ArchitectureScore]
        public var best: ArchitectureScore
        public var randomHistory: [ArchitectureScore]
        public var randomBest: ArchitectureScore
    }

    func run(space: SearchSpace, scorer: ArchitectureScorer, constraints: SearchConstraints, world: Communicator,
             progress: ProgressReporter) throws -> Outcome {
        var random = Random(state: SeededRandom(seed: seed))
        // Initial population.
        var initial: [SearchSpace.Architecture] = []
        for _ in 0..<population {
            initial.append(try EvolutionarySearch.feasibleRandom(space, scorer: scorer, constraints: constraints,
                                                                 random: &random))
        }
        var members = try EvolutionarySearch.scoreAll(initial, scorer: scorer, world: world)
        var history = members
        for cycle in 0..<cycles {
            var children: [SearchSpace.Architecture] = []
            for _ in 0..<world.size {
                func winner() -> ArchitectureScore {
                    (0..<min(tournament, members.count)).map { _ in members[random.below(members.count)] }
                        .max { $0.accuracy < $1.accuracy }!
                }
                var child: SearchSpace.Architecture = []
                for _ in 0..<1000 {
                    child = winner().architecture
                    if random.unit() < crossover {
                        let other = winner().architecture
                        child = child.indices.map { random.below(2) == 0 ? child[$0] : other[$0] }
                    }
                    for _ in 0..<mutations {
                        let b = random.below(child.count)
                        let k = space.choiceCounts[b]
                        if k > 1 { child[b] = (child[b] + 1 + random.below(k - 1)) % k }
                    }
                    if scorer.feasible(try scorer.cost(child), constraints) { break }
                }
                children.append(child)
            }
            let scored = try EvolutionarySearch.scoreAll(children, scorer: scorer, world: world)
            for s in scored {
                members.append(s)
                members.removeFirst() // aging: the oldest leaves
            }
            history += scored
            let best = history.max { $0.accuracy < $1.accuracy }!
            progress.note(String(format: "cycle %ld/%ld: best %.2f%% (%@), %ld parameters", cycle + 1, cycles,
                                 best.accuracy * 100, best.description, best.parameters))
        }
        // Random search with the same number of scored architectures.
        var randomState = Random(state: SeededRandom(seed: seed &+ 0xBA5E))
        var draws: [SearchSpace.Architecture] = []
        for _ in 0..<history.count {
            draws.append(try EvolutionarySearch.feasibleRandom(space, scorer: scorer, constraints: constraints,
                                                               random: &randomState))
        }
        let randomHistory = try EvolutionarySearch.scoreAll(draws, scorer: scorer, world: world)
        return Outcome(history: history, best: history.max { $0.accuracy < $1.accuracy }!,
                       randomHistory: randomHistory, randomBest: randomHistory.max { $0.accuracy < $1.accuracy }!)
    }

    /// The non-dominated scores: no other is at least as accurate and no larger on every
    /// cost (parameters, latency, and allreduce time when known), and better on one.
    public static func paretoFront(_ scores: [ArchitectureScore]) -> [ArchitectureScore] {
        func costs(_ s: ArchitectureScore) -> [Double] { [Double(s.parameters), s.latency_ms, s.comm_us ?? 0] }
        var unique: [String: ArchitectureScore] = [:]
        for s in scores { unique[s.description] = s }
        let all = Array(unique.values)
        return all.filter { s in
            !all.contains { o in
                o.accuracy >= s.accuracy && zip(costs(o), costs(s)).allSatisfy { $0 <= $1 }
                    && (o.accuracy > s.accuracy || zip(costs(o), costs(s)).contains { $0 < $1 })
            }
        }.sorted { $0.parameters < $1.parameters }
    }
}
