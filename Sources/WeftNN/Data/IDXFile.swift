import CZlib
import Foundation

/// Reads an IDX file (the MNIST format: magic, dimensions, unsigned bytes), gzip-compressed
/// or plain, through zlib.
public enum IDXFile {
    public struct Contents {
        public var dimensions: [Int]
        public var bytes: [UInt8]
    }

    public static func read(_ path: String) throws -> Contents {
        guard FileManager.default.isReadableFile(atPath: path) else { throw DataError.missing(path) }
        // zlib opens a folder and only fails to read it, which would read as a damaged file.
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) && isFolder.boolValue {
            throw DataError.corrupt(path, "it is a folder, not an IDX file; remove it or point --data at another folder")
        }
        guard let file = gzopen(path, "rb") else { throw DataError.corrupt(path, "cannot open") }
        defer { gzclose(file) }
        var raw = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
            if n < 0 { throw DataError.corrupt(path, "gzip stream is damaged") }
            if n == 0 { break }
            raw.append(contentsOf: chunk[0..<Int(n)])
        }
        guard raw.count >= 4, raw[0] == 0, raw[1] == 0, raw[2] == 0x08 else {
            throw DataError.corrupt(path, "not an unsigned-byte IDX file")
        }
        let rank = Int(raw[3])
        guard raw.count >= 4 + 4 * rank else { throw DataError.corrupt(path, "header is truncated") }
        let dimensions = (0..<rank).map { d in
            (0..<4).reduce(0) { $0 << 8 | Int(raw[4 + 4 * d + $1]) }
        }
        let start = 4 + 4 * rank
        // The first dimension counts samples (none is its own error, said by the loader);
        // a zero size after it would make every sample empty.
        if let zero = dimensions.dropFirst().firstIndex(of: 0) {
            throw DataError.corrupt(path, "header dimensions \(dimensions) give dimension \(zero) size 0; every sample dimension must be at least 1")
        }
        // A damaged header can promise more values than an Int holds: count with overflow checks.
        var count = 1
        for d in dimensions {
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, product <= raw.count else {
                throw DataError.corrupt(path, "header dimensions \(dimensions) promise more values than the file holds (\(raw.count - start))")
            }
            count = product
        }
        guard raw.count == start + count else {
            throw DataError.corrupt(path, "holds \(raw.count - start) values, its header promises \(count)")
        }
        return Contents(dimensions: dimensions, bytes: Array(raw[start...]))
    }
}

public enum DataError: Error, CustomStringConvertible, Equatable {
    case missing(String)
    case corrupt(String, String)
    case tooFewSamples(samples: Int, ranks: Int, batch: Int)

    public var description: String {
        switch self {
        case .missing(let path):
            return "data file \(path) is missing; install it with: apt-get install dataset-fashion-mnist "
                + "(or run launch/setup), or point --data at a folder holding the IDX files"
        case .corrupt(let path, let why):
            return "data file \(path) is unreadable: \(why)"
        case .tooFewSamples(let samples, let ranks, let batch):
            return "\(samples) training samples cannot feed \(ranks) ranks with at least one batch each "
                + "(batch \(batch)); lower --batch-size or the rank count, or raise --train-limit"
        }
    }
}
