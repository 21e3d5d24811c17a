import CWeft
import Foundation

/// Process-wide MPI state: initialisation, the timeout on every wait, and whether waiting
/// loops yield the CPU (needed when more ranks than cores share a node).
public enum Runtime {
    /// Initialises MPI once (errors are returned, never aborted) and applies settings from
    /// the environment: `WEFT_TIMEOUT` (seconds) and `WEFT_YIELD` (0/1; by default, yield when
    /// a node has more ranks than cores or Open MPI was told to yield when idle).
    public static func initialize() throws {
        if weft_is_initialized() != 0 { return }
        if let error = AlgorithmSelector.environmentError { throw WeftError(function: "WEFT_ALGO", reason: error) }
        if let error = CrossMemorySetting.environmentError { throw WeftError(function: "WEFT_CROSS_MEMORY", reason: error) }
        if let error = yieldSettingError { throw WeftError(function: "WEFT_YIELD", reason: error) }
        if let error = acrossSettingError { throw WeftError(function: "WEFT_ACROSS", reason: error) }
        try check("MPI_Init_thread", weft_init())
        let environment = ProcessInfo.processInfo.environment
        if let text = environment["WEFT_TIMEOUT"], !text.isEmpty {
            guard let seconds = Double(text), seconds.isFinite, seconds >= 0 else {
                throw WeftError(function: "WEFT_TIMEOUT", reason: "'\(text)' is not a number of seconds >= 0 (0: wait forever)")
            }
            timeout = seconds
        }
        weft_set_yield(max(0, weft_yield_setting(nil, 0)))
    }

    /// The error line for a `WEFT_YIELD` that is set to neither 0 nor 1, or nil when it is fine.
    public static var yieldSettingError: String? { settingError(weft_yield_setting) }

    /// The error line for a `WEFT_ACROSS` other than sockets or mpi, or nil when it is fine.
    public static var acrossSettingError: String? { settingError(weft_across_setting) }

    /// The line a C setting check (one shared with libweft-mpi.so) writes when it refuses
    /// the value (returns < 0).
    private static func settingError(_ check: (UnsafeMutablePointer<CChar>?, Int32) -> Int32) -> String? {
        var line = [CChar](repeating: 0, count: 512)
        guard check(&line, Int32(line.count)) < 0 else { return nil }
        return String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whether messages between nodes go over Weft's own TCP connections rather than Open
    /// MPI's point-to-point: `WEFT_ACROSS`, else sockets where this host has no RDMA device
    /// (Open MPI would use TCP itself). A communicator uses them only where every rank
    /// wants them and can listen, agreed when it first runs a program across nodes.
    public static var socketsAcrossNodes: Bool { weft_across_setting(nil, 0) == 1 }

    /// Seconds any wait may last before the collective fails with a timeout (0: forever).
    public static var timeout: Double {
        get { weft_get_timeout() }
        set { weft_set_timeout(newValue) }
    }

    /// Largest single MPI message; bigger transfers are split. Lowered only by tests.
    public static func setMaxMessageBytes(_ bytes: Int) { weft_set_max_message_bytes(Int64(bytes)) }

    public static func finalize() {
        _ = weft_finalize()
    }

    /// Ends every rank of the job (after an error that leaves peers waiting).
    public static func abort(code: Int32 = 1) -> Never {
        weft_abort(code)
        exit(code)
    }

    public static func wallTime() -> Double { weft_wtime() }
}
