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

    /// swift-argument-parser's own `main` prints a usage error with its usage block from every
    /// rank, so under mpirun a mistyped option came out as N interleaved copies. A usage error
    /// is one line from rank 0 here, naming the help to read; `--help` prints as usual.
    static func main() {
        var command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            if exitCode(for: error) == .success { exit(withError: error) }
            failEverywhere(usageLine(for: error), code: exitCode(for: error).rawValue)
        }
        do {
            try command.run()
        } catch {
            exit(withError: error)
        }
    }

    /// The parser's message for `error` on one line, with its "see … --help" hint.
    static func usageLine(for error: Error) -> String {
        let lines = fullMessage(for: error).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        var what = lines.first ?? "invalid arguments"
        if what.hasPrefix("Error: ") { what.removeFirst("Error: ".count) }
        guard let hint = lines.first(where: { $0.hasPrefix("See '") }) else { return what }
        return what + "; s" + hint.dropFirst().replacingOccurrences(of: " for more information.", with: "")
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

/// Prints `message` to stderr once for the whole job (from rank 0; from another rank only
/// when rank 0 did not fail too) and exits with `code`.
func failEverywhere(_ message: String, code: Int32 = 2) -> Never {
    if launcherRank == 0 {
        FileHandle.standardError.write(Data("weft: error: \(message)\n".utf8))
    } else {
        // mpirun kills the job when the first rank exits non-zero: let rank 0 (which may be
        // seconds behind on a loaded machine) speak first; its exit ends this rank sooner.
        // Still alive after that, this rank's failure is its own (say, only its WEFT_ALGO is
        // bad and rank 0 went on into MPI), so it speaks, naming itself. (A launcher that
        // does not end the job when rank 0 fails, srun without --kill-on-bad-exit, then
        // prints a job-wide error once per rank.)
        sleep(5)
        FileHandle.standardError.write(Data("weft: error: rank \(launcherRank): \(message)\n".utf8))
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
    if let error = CrossMemorySetting.environmentError { failEverywhere(error) }
    if let error = Runtime.yieldSettingError { failEverywhere(error) }
    if let error = Runtime.acrossSettingError { failEverywhere(error) }
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
    // As libweft-mpi.so does at MPI_Init: before any work, not at the first collective.
    if let forced = AlgorithmSelector.environmentOverride, forced.needsTopology, communicator.network == nil {
        failEverywhere("WEFT_ALGO=\(forced.rawValue) needs a descriptor: give --topology FILE or WEFT_TOPOLOGY, or choose an algorithm that does not")
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
