import Foundation
import WeftNN

/// `value` as indented JSON with sorted keys (files people read and diff), written with
/// `writeAtomically` (settings.json, latency tables, path costs).
func writeJSONAtomically<T: Encodable>(_ value: T, to path: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try writeAtomically(try encoder.encode(value), to: path)
}
