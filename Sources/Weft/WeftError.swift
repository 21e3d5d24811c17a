import CWeft

/// An error from the transport: which call failed and the MPI (or Weft) reason.
public struct WeftError: Error, CustomStringConvertible, Equatable {
    /// The MPI error class or a negative Weft code (`WEFT_ERR_*`).
    public let code: Int32
    /// The shim function that failed, e.g. `weft_execute`.
    public let function: String
    public let reason: String

    public init(code: Int32, function: String) {
        self.code = code
        self.function = function
        var text = [CChar](repeating: 0, count: 512)
        weft_error_string(code, &text, Int32(text.count))
        reason = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public init(function: String, reason: String) {
        self.init(code: Int32(WEFT_ERR_ARGUMENT), function: function, reason: reason)
    }

    public init(code: Int32, function: String, reason: String) {
        self.code = code
        self.function = function
        self.reason = reason
    }

    public var description: String { "\(function): \(reason)" }

    public var isTimeout: Bool { code == Int32(WEFT_ERR_TIMEOUT) }
    public var isCountMismatch: Bool { code == Int32(WEFT_ERR_COUNT_MISMATCH) }
}

/// Runs a shim call and turns a non-zero return code into a thrown `WeftError` naming it.
@inline(__always)
func check(_ function: String, _ code: Int32) throws {
    if code != 0 { throw WeftError(code: code, function: function) }
}
