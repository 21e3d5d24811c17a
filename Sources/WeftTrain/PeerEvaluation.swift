import Foundation
import Weft
import WeftNN

/// Test accuracy of every group's model and of their ensemble (mean of the peers' softmax
/// probabilities). Rank j of every group evaluates the same strided share of the test set,
/// the peers' probabilities meet in one allgather, and the group sums the shares.
struct PeerEvaluation {
    var peerAccuracies: [Double]
    var peerLosses: [Double]
    var ensembleAccuracy: Double

    static func run(_ replica: Replica, test: Dataset, groups: PeerGroups) throws -> PeerEvaluation {
        try replica.synchronizeStatistics(group: groups.group)
        let mine = Array(stride(from: groups.position, to: test.count, by: groups.size))
        let classes = replica.spec.classes
        var probabilities: [Float] = []
        var labels: [Int32] = []
        var random = SeededRandom(seed: 0)
        for start in stride(from: 0, to: mine.count, by: 500) {
            let (x, y) = BatchBuilder().make(test, mine[start..<min(start + 500, mine.count)], random: &random)
            probabilities += softmax(replica.model.forward(x, training: false))
            labels += y
        }
        // Every group's probabilities on this share (same samples in every group).
        let block = probabilities.count
        var all = [Float](repeating: 0, count: block * groups.count)
        all.replaceSubrange((groups.index * block)..<((groups.index + 1) * block), with: probabilities)
        if groups.count > 1 { try all.withUnsafeMutableBufferPointer { try groups.peers.allgather($0, algorithm: .mpi) } }
        // totals: per peer (correct, loss), then ensemble correct.
        var totals = [Double](repeating: 0, count: 2 * groups.count + 1)
        for (s, y) in labels.enumerated() {
            var ensemble = [Float](repeating: 0, count: classes)
            for g in 0..<groups.count {
                let row = all[(g * block + s * classes)..<(g * block + (s + 1) * classes)]
                if row.indices.max(by: { row[$0] < row[$1] }).map({ $0 - row.startIndex }) == Int(y) { totals[2 * g] += 1 }
                totals[2 * g + 1] -= Double(logf(max(row[row.startIndex + Int(y)], 1e-30)))
                for (c, p) in row.enumerated() { ensemble[c] += p }
            }
            if ensemble.indices.max(by: { ensemble[$0] < ensemble[$1] }) == Int(y) { totals[2 * groups.count] += 1 }
        }
        try groups.group.allreduce(&totals, op: .sum, algorithm: .mpi)
        let n = Double(test.count)
        return PeerEvaluation(peerAccuracies: (0..<groups.count).map { totals[2 * $0] / n },
                              peerLosses: (0..<groups.count).map { totals[2 * $0 + 1] / n },
                              ensembleAccuracy: totals[2 * groups.count] / n)
    }
}
