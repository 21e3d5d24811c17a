/// A descriptor problem: which file, which key (and line where the parser knows it), what
/// is wrong and how to fix it — one line.
public struct TopologyError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let key: String?
    public let line: Int?
    public let message: String

    public init(file: String, key: String? = nil, line: Int? = nil, _ message: String) {
        self.file = file
        self.key = key
        self.line = line
        self.message = message
    }

    public var description: String {
        var location = file
        if let line { location += ":\(line)" }
        if let key { location += ": key '\(key)'" }
        return "\(location): \(message)"
    }
}
