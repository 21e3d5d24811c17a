import Foundation
import Weft

/// Runs a closure once per rank, each on its own thread with its own in-process
/// communicator (gloo's `spawn()` in `test/base_test.h`). Every rank gets a real thread:
/// ranks block in collectives, so a pool smaller than the rank count would deadlock.
final class InProcessRanks<T>: @unchecked Sendable {
    /// A rank's error, tagged with the rank.
    struct Failure: Error, CustomStringConvertible {
        let rank: Int
        let error: any Error
        var description: String { "rank \(rank): \(error)" }
    }

    private let communicators: [Communicator]
    private let body: (Communicator) throws -> T
    private var results: [Result<T, any Error>?]
    private let lock = NSLock()
    private let finished = DispatchGroup()

    private init(_ communicators: [Communicator], _ body: @escaping (Communicator) throws -> T) {
        self.communicators = communicators
        self.body = body
        results = Array(repeating: nil, count: communicators.count)
    }

    /// Each rank's outcome, in rank order. `nodeOfRank` as in `Communicator.inProcess`.
    static func outcomes(ranks: Int, nodeOfRank: [Int]? = nil, _ body: @escaping (Communicator) throws -> T) throws
        -> [Result<T, any Error>]
    {
        let run = InProcessRanks(try Communicator.inProcess(ranks: ranks, nodeOfRank: nodeOfRank), body)
        for rank in 0..<ranks {
            run.finished.enter()
            let thread = Thread { run.runRank(rank) }
            thread.stackSize = 4 << 20
            thread.start()
        }
        // Every wait inside has a timeout; this only guards against a bug in the harness.
        guard run.finished.wait(timeout: .now() + 300) == .success else {
            throw Failure(rank: -1, error: WeftError(function: "InProcessRanks", reason: "ranks still running after 300 s"))
        }
        return run.lock.withLock { run.results.map { $0! } }
    }

    /// Each rank's value, in rank order; throws the lowest failing rank's error.
    static func values(ranks: Int, nodeOfRank: [Int]? = nil, _ body: @escaping (Communicator) throws -> T) throws -> [T] {
        try outcomes(ranks: ranks, nodeOfRank: nodeOfRank, body).enumerated().map { rank, outcome in
            do { return try outcome.get() } catch { throw Failure(rank: rank, error: error) }
        }
    }

    private func runRank(_ rank: Int) {
        let outcome = Result { try body(communicators[rank]) }
        lock.withLock { results[rank] = outcome }
        finished.leave()
    }
}

/// Ranks per node → each rank's node, ranks numbered node by node: [2, 1] → [0, 0, 1].
func nodeOfRank(_ ranksPerNode: [Int]) -> [Int] {
    ranksPerNode.enumerated().flatMap { node, count in Array(repeating: node, count: count) }
}
