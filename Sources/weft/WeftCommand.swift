import ArgumentParser
import Foundation
import Weft

@main
struct WeftCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weft",
        abstract: "Network-aware collectives and distributed training over MPI.",
        discussion: "Run under mpirun or launch/weftrun, e.g. `launch/weftrun -np 4 -- weft bench allreduce`.",
        subcommands: [Bench.self, Topo.self, Train.self, Tune.self]
    )
}

/// A usage or runtime error reported as one line on stderr (by rank 0 only when every
/// rank would say the same), with a non-zero exit.
struct CommandFailure: Error, CustomStringConvertible {
    let message: String
    let code: Int32
    var description: String { message }

    init(_ message: String, code: Int32 = 2) {
        self.message = message
        self.code = code
    }
}

/// This process's rank in the job, from the launcher's environment (before MPI starts).
var launcherRank: Int {
    let environment = ProcessInfo.processInfo.environment
    for key in ["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"] {
        if let text = environment[key], let rank = Int(text) { return rank }
    }
    return 0
}

/// Prints `message` to stderr once for the whole job (from rank 0) and exits with `code`.
func failEverywhere(_ message: String, code: Int32 = 2) -> Never {
    if launcherRank == 0 {
        FileHandle.standardError.write(Data("weft: error: \(message)\n".utf8))
    } else {
        // mpirun kills the job when the first rank exits non-zero: let rank 0 (which may be
        // seconds behind on a loaded machine) speak first; its exit ends this rank sooner.
        sleep(5)
    }
    exit(code)
}

/// MPI's world communicator with the timeout, topology and tuning file applied (each
/// falling back to its environment variable); a failure ends the job with one line.
func startWorld(timeout: Double, topology: String?, tuning: String?) -> Communicator {
    // NaN would compare false with everything and silently disable every wait's bound.
    if !timeout.isFinite || timeout < 0 {
        failEverywhere("--timeout must be a number of seconds >= 0 (0: wait forever), got \(timeout)")
    }
    if let error = AlgorithmSelector.environmentError { failEverywhere(error) }
    Runtime.timeout = timeout
    let communicator: Communicator
    do {
        communicator = try Communicator.world()
    } catch {
        failEverywhere("cannot start MPI: \(error)", code: 1)
    }
    Runtime.timeout = timeout
    do {
        try communicator.configure(topology: topology, tuning: tuning)
    } catch {
        failEverywhere("\(error)")
    }
    if let plan = communicator.tuning, !plan.applies(toRanks: communicator.size), communicator.rank == 0 {
        func ranks(_ n: Int) -> String { n == 1 ? "1 rank" : "\(n) ranks" }
        FileHandle.standardError.write(Data(("weft: note: tuning file \(plan.source) is for \(ranks(plan.ranks)) and this job has "
            + "\(communicator.size), so auto does not follow it; run weft tune on \(ranks(communicator.size))\n").utf8))
    }
    return communicator
}

/// Prints `message` to stderr from this rank only.
func printError(_ message: String) {
    FileHandle.standardError.write(Data("weft: error: \(message)\n".utf8))
}
