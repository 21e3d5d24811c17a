/// An in-memory image classification set: normalised Float32 images [N, C, H, W] and labels.
public struct Dataset: Sendable {
    public var images: [Float]
    public var labels: [Int32]
    public let sampleShape: [Int]
    public let classes: Int

    public var count: Int { labels.count }
    public var sampleSize: Int { sampleShape.reduce(1, *) }

    /// The first `limit` samples.
    public func prefix(_ limit: Int) -> Dataset {
        let n = min(limit, count)
        return Dataset(images: Array(images[0..<(n * sampleSize)]), labels: Array(labels[0..<n]),
                       sampleShape: sampleShape, classes: classes)
    }
}

/// Fashion-MNIST from the IDX files of the Debian package `dataset-fashion-mnist`.
public enum FashionMNIST {
    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"
    /// Mean and standard deviation of the training pixels (in [0, 1]).
    public static let mean: Float = 0.2860, std: Float = 0.3530

    public static func load(train: Bool, directory: String = defaultDirectory) throws -> Dataset {
        let prefix = train ? "train" : "t10k"
        let images = try IDXFile.read(try path(directory, "\(prefix)-images-idx3-ubyte"))
        let labels = try IDXFile.read(try path(directory, "\(prefix)-labels-idx1-ubyte"))
        guard images.dimensions.count == 3, labels.dimensions.count == 1, images.dimensions[0] == labels.dimensions[0]
        else {
            throw DataError.corrupt(directory, "images \(images.dimensions) and labels \(labels.dimensions) disagree")
        }
        guard images.dimensions[0] > 0 else {
            throw DataError.corrupt(directory, "\(prefix) set holds no images")
        }
        let classes = 10
        // A label outside the classes would index past the logits (and, split across ranks,
        // silently train on garbage): refuse the file.
        if let index = labels.bytes.firstIndex(where: { Int($0) >= classes }) {
            throw DataError.corrupt(directory, "\(prefix) label \(index) is \(labels.bytes[index]); Fashion-MNIST labels are 0…\(classes - 1)")
        }
        let scale = 1 / (255 * std), shift = mean / std
        return Dataset(images: images.bytes.map { Float($0) * scale - shift }, labels: labels.bytes.map { Int32($0) },
                       sampleShape: [1, images.dimensions[1], images.dimensions[2]], classes: classes)
    }

    /// The gzip file if present, else an uncompressed one; the missing-file error names the gzip one.
    private static func path(_ directory: String, _ name: String) throws -> String {
        let gz = "\(directory)/\(name).gz"
        if FileManager.default.fileExists(atPath: gz) { return gz }
        if FileManager.default.fileExists(atPath: "\(directory)/\(name)") { return "\(directory)/\(name)" }
        throw DataError.missing(gz)
    }
}

import Foundation
