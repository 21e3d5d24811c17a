import Foundation

/// `WEFT_CROSS_MEMORY`: `0` keeps Weft from reading and writing peers' memory with
/// cross-memory attach; `1` (the default, as is unset or empty) uses it where the kernel
/// allows. One check of its value for weft and libweft-mpi.so, so both refuse the same values
/// with the same line instead of one refusing what the other silently took as "on" (the
/// library's C side still reads "0" itself, after this check has passed).
public enum CrossMemorySetting {
    /// Whether the environment turns cross-memory attach off.
    public static var disabled: Bool { ProcessInfo.processInfo.environment["WEFT_CROSS_MEMORY"] == "0" }

    /// The error line for a value other than 0 or 1, or nil when it is fine.
    public static var environmentError: String? {
        guard let value = ProcessInfo.processInfo.environment["WEFT_CROSS_MEMORY"], !["", "0", "1"].contains(value)
        else { return nil }
        return "WEFT_CROSS_MEMORY='\(value)' is not 0 (off) or 1 (on, the default)"
    }
}
