import Foundation

/// What each candidate of each block costs to train, for balanced rank paths — kept in a
/// file so a run can be repeated with the same paths. Costs measured afresh differ a little
/// from run to run, and a different cost order is a different sequence of paths; with the
/// file, the same seed gives the same supernet, and a resumed run keeps its paths.
struct PathCosts: Codable {
    var space: String
    /// Milliseconds of one training forward and backward on 32 images, per block, per
    /// candidate (block-major, as `SearchSpace.blocks`).
    var blocks: [[Double]]

    /// Reads `path` if it exists (it must have been written for `space`), else measures on
    /// `supernet` and writes it there; without a path, only measures.
    static func loadOrMeasure(_ path: String?, space: SearchSpace, supernet: Supernet) throws -> PathCosts {
        if let path, let data = FileManager.default.contents(atPath: path) {
            guard let costs = try? JSONDecoder().decode(PathCosts.self, from: data) else {
                throw TrainingError("--path-costs \(path): not a path-costs file; delete it to measure afresh")
            }
            guard costs.space == space.name, costs.blocks.map(\.count) == space.choiceCounts else {
                throw TrainingError("--path-costs \(path): measured for space '\(costs.space)' with choices "
                                    + "\(costs.blocks.map(\.count)), not '\(space.name)' with \(space.choiceCounts); "
                                    + "delete it or pass another file")
            }
            return costs
        }
        let costs = PathCosts(space: space.name, blocks: supernet.measureCandidateCosts())
        if let path { try writeJSONAtomically(costs, to: path) }
        return costs
    }
}
