import Foundation
import XCTest

@testable import WeftNN

final class OptimizerTests: XCTestCase {
    /// SGD with momentum, Nesterov and weight decay against PyTorch's update rule written out.
    func testSGDMatchesThePyTorchRule() {
        for nesterov in [false, true] {
            var w: [Float] = [1, -2, 0.5]
            var reference = w
            var velocity: [Float] = [0, 0, 0]
            let sgd = SGD(count: 3, learningRate: 0.1, momentum: 0.9, nesterov: nesterov, weightDecay: 0.01)
            for step in 0..<5 {
                let g: [Float] = [0.3 * Float(step), -0.1, 0.2]
                w.withUnsafeMutableBufferPointer { p in g.withUnsafeBufferPointer { sgd.step(parameters: p, gradients: $0, mask: nil) } }
                for i in 0..<3 {
                    let d = g[i] + 0.01 * reference[i]
                    velocity[i] = 0.9 * velocity[i] + d
                    reference[i] -= 0.1 * (nesterov ? d + 0.9 * velocity[i] : velocity[i])
                }
            }
            XCTAssertEqual(w, reference)
        }
    }

    func testAdamWFirstStepMovesByTheLearningRate() {
        var w: [Float] = [1, 1]
        let adam = AdamW(count: 2, learningRate: 0.01, weightDecay: 0)
        let g: [Float] = [5, -0.001]
        w.withUnsafeMutableBufferPointer { p in g.withUnsafeBufferPointer { adam.step(parameters: p, gradients: $0, mask: nil) } }
        XCTAssertEqual(w[0], 0.99, accuracy: 1e-5)
        XCTAssertEqual(w[1], 1.01, accuracy: 1e-4)
    }

    func testMaskedStepLeavesUntouchedWeightsAndStateAlone() {
        var w: [Float] = [1, 1]
        let sgd = SGD(count: 2, learningRate: 0.5, momentum: 0.9)
        let g: [Float] = [1, 1]
        w.withUnsafeMutableBufferPointer { p in g.withUnsafeBufferPointer { sgd.step(parameters: p, gradients: $0, mask: [true, false]) } }
        XCTAssertEqual(w, [0.5, 1])
        XCTAssertEqual(sgd.state, [1, 0])
    }

    func testCosineScheduleWarmsUpThenDecaysToZero() {
        let s = LearningRateSchedule.cosine(warmup: 10, total: 110)
        XCTAssertEqual(s.rate(base: 1, step: 0), 0.1, accuracy: 1e-6)
        XCTAssertEqual(s.rate(base: 1, step: 9), 1, accuracy: 1e-6)
        XCTAssertEqual(s.rate(base: 1, step: 60), 0.5, accuracy: 1e-6)
        XCTAssertEqual(s.rate(base: 1, step: 110), 0, accuracy: 1e-6)
        XCTAssertEqual(LearningRateSchedule.step(every: 10, gamma: 0.5).rate(base: 1, step: 25), 0.25)
    }
}

final class ModelAndCheckpointTests: XCTestCase {
    func testReferenceModelsHaveTheirTextbookSizes() throws {
        XCTAssertEqual(try Model(spec: .mlp, seed: 1).parameterCount, 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10)
        XCTAssertEqual(try Model(spec: .cnn, seed: 1).parameterCount,
                       16 * 9 + 16 + 32 * 16 * 9 + 32 + 32 * 7 * 7 * 64 + 64 + 64 * 10 + 10)
    }

    func testSameSeedSameWeights() throws {
        let a = try Model(spec: .cnn, seed: 7), b = try Model(spec: .cnn, seed: 7), c = try Model(spec: .cnn, seed: 8)
        XCTAssertEqual(Array(a.store.values), Array(b.store.values))
        XCTAssertNotEqual(Array(a.store.values), Array(c.store.values))
    }

    func testSpecErrorsNameTheLayer() {
        func error(_ json: String) -> String {
            do {
                _ = try Model(spec: try ModelSpec(json: json, source: "net.json"), seed: 1)
                return "no error"
            } catch { return "\(error)" }
        }
        XCTAssertEqual(error(#"{"input": [1, 28, 28], "classes": 10, "layers": [{"type": "conv3d"}]}"#),
                       "model spec net.json: layer 0: unknown layer type 'conv3d' (known: \(ModelSpec.knownTypes.joined(separator: ", ")))")
        XCTAssertEqual(error(#"{"input": [1, 28, 28], "classes": 10, "layers": [{"type": "dense", "out": 10, "units": 3}]}"#),
                       "model spec net.json: layer 0: unknown key 'units' for dense (allowed: out)")
        XCTAssertEqual(error(#"{"input": [1, 28, 28], "classes": 10, "layers": [{"type": "flatten"}, {"type": "conv2d", "out": 4, "kernel": 3}]}"#),
                       "model net.json: layer 1 (conv2d): conv2d expects [channels, height, width], got [784]")
        XCTAssertEqual(error(#"{"input": [1, 28, 28], "classes": 10, "layers": [{"type": "flatten"}, {"type": "dense", "out": 7}]}"#),
                       "model net.json: outputs [7] but has 10 classes; end with a dense layer of 10 outputs")
    }

    /// Depth is bounded before any layer is built: 200,000 ReLUs exhausted 24 GiB.
    func testTooManyLayersIsRefusedBeforeBuilding() {
        func spec(relus: Int, nested: Bool = false) -> String {
            let relu = Array(repeating: #"{"type": "relu"}"#, count: relus).joined(separator: ", ")
            let layers = nested ? #"{"type": "residual", "body": [\#(relu)]}"# : relu
            return #"{"input": [1, 28, 28], "classes": 10, "layers": [\#(layers), {"type": "flatten"}, {"type": "dense", "out": 10}]}"#
        }
        XCTAssertThrowsError(try ModelSpec(json: spec(relus: 20_000), source: "deep.json")) { error in
            XCTAssertEqual("\(error)", "model spec deep.json: 20002 layers (counting those inside residual and choice layers), "
                + "more than the 10000 allowed; use fewer layers")
        }
        XCTAssertThrowsError(try ModelSpec(json: spec(relus: 9_999, nested: true), source: "deep.json")) { error in
            XCTAssertEqual("\(error)", "model spec deep.json: 10002 layers (counting those inside residual and choice layers), "
                + "more than the 10000 allowed; use fewer layers")
        }
        XCTAssertNoThrow(try ModelSpec(json: spec(relus: 9_998), source: "deep.json"))
    }

    func testCheckpointRoundTripsAndRefusesDamage() throws {
        let checkpoint = Checkpoint(signature: 42, epoch: 3, batchInEpoch: 17, step: 999, parameters: [1, -2.5, .pi],
                                    state: [0.1], optimizer: [7, 8, 9], randomStates: [123, 456], methodState: [4, -0.5],
                                    batchSize: 64, samples: 2048)
        let dir = NSTemporaryDirectory() + "weft-ckpt-\(getpid())"
        let path = dir + "/model.ckpt"
        try checkpoint.write(to: path)
        XCTAssertEqual(try Checkpoint.read(from: path), checkpoint)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(path).tmp.\(getpid())"))
        var bytes = [UInt8](FileManager.default.contents(atPath: path)!)
        bytes.removeLast(9)
        XCTAssertThrowsError(try Checkpoint.decode(bytes, path: path)) { error in
            XCTAssertEqual("\(error)", "checkpoint \(path) is truncated or damaged (CRC mismatch); it was not loaded")
        }
        XCTAssertThrowsError(try Checkpoint.decode(Array("not a checkpoint".utf8), path: path)) { error in
            XCTAssertEqual("\(error)", "checkpoint \(path) is not a Weft checkpoint")
        }
        // A position no run reaches (with a valid CRC) is damage, not a number to add 1 to.
        var huge = checkpoint
        huge.batchInEpoch = Int(Int64.max)
        XCTAssertThrowsError(try Checkpoint.decode(huge.encoded(), path: path)) { error in
            XCTAssertEqual("\(error)", "checkpoint \(path) is damaged (epoch 3, batch 9223372036854775807, step 999); it was not loaded")
        }
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// A folder that cannot be made is one line with the system's reason, not an NSError dump.
    func testCheckpointUnderAFileSaysWhy() throws {
        let file = NSTemporaryDirectory() + "weft-ckpt-file-\(getpid())"
        FileManager.default.createFile(atPath: file, contents: Data())
        defer { XCTAssertNoThrow(try FileManager.default.removeItem(atPath: file)) }
        let checkpoint = Checkpoint(signature: 1, epoch: 0, batchInEpoch: 0, step: 0, parameters: [1], state: [],
                                    optimizer: [], randomStates: [])
        XCTAssertThrowsError(try checkpoint.write(to: file + "/sub/model.ckpt")) { error in
            XCTAssertEqual("\(error)", "cannot create checkpoint folder \(file)/sub: Not a directory")
        }
    }
}

final class DataTests: XCTestCase {
    func testShardsAreDisjointAndCoverTheEpoch() throws {
        let samplers = try (0..<3).map { try BatchSampler(samples: 100, batchSize: 8, rank: $0, ranks: 3, seed: 5) }
        let order = samplers[0].permutation(epoch: 2)
        XCTAssertEqual(order.sorted(), Array(0..<100))
        XCTAssertEqual(order, samplers[1].permutation(epoch: 2))
        XCTAssertNotEqual(order, samplers[0].permutation(epoch: 3))
        var seen = Set<Int>()
        for s in samplers {
            XCTAssertEqual(s.batchesPerEpoch, 5)
            for b in 0..<s.batchesPerEpoch { seen.formUnion(s.batch(b, of: order)) }
        }
        XCTAssertEqual(seen.count, 99)
    }

    /// A folder where a data file should be, and a header with a zero-sized dimension, say
    /// so (they read as "gzip stream is damaged" and "more values than the file holds").
    func testDataFileThatIsAFolderOrHasAZeroDimensionSaysSo() throws {
        let dir = NSTemporaryDirectory() + "weft-idx-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir + "/images.gz", withIntermediateDirectories: true)
        defer { XCTAssertNoThrow(try FileManager.default.removeItem(atPath: dir)) }
        XCTAssertThrowsError(try IDXFile.read(dir + "/images.gz")) { error in
            XCTAssertEqual("\(error)", "data file \(dir)/images.gz is unreadable: it is a folder, not an IDX file; "
                + "remove it or point --data at another folder")
        }
        let zero: [UInt8] = [0, 0, 8, 3, 0, 0, 2, 0x58, 0, 0, 0, 0, 0, 0, 0, 28]
        FileManager.default.createFile(atPath: dir + "/zero", contents: Data(zero))
        XCTAssertThrowsError(try IDXFile.read(dir + "/zero")) { error in
            XCTAssertEqual("\(error)", "data file \(dir)/zero is unreadable: header dimensions [600, 0, 28] give dimension 1 "
                + "size 0; every sample dimension must be at least 1")
        }
    }

    func testTooFewSamplesForTheRanksIsAnError() {
        XCTAssertThrowsError(try BatchSampler(samples: 3, batchSize: 8, rank: 0, ranks: 4, seed: 1)) { error in
            XCTAssertEqual("\(error)", "3 training samples cannot feed 4 ranks with at least one batch each (batch 8); "
                + "lower --batch-size or the rank count, or raise --train-limit")
        }
    }

    func testMissingDataNamesTheFileAndThePackage() {
        XCTAssertThrowsError(try FashionMNIST.load(train: true, directory: "/nonexistent")) { error in
            XCTAssertTrue("\(error)".hasPrefix("data file /nonexistent/train-images-idx3-ubyte.gz is missing; install it with: apt-get install dataset-fashion-mnist"), "\(error)")
        }
    }

    func testFashionMNISTLoadsWhenInstalled() throws {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: FashionMNIST.defaultDirectory), "dataset not installed")
        let test = try FashionMNIST.load(train: false)
        XCTAssertEqual(test.count, 10_000)
        XCTAssertEqual(test.sampleShape, [1, 28, 28])
        XCTAssertEqual(Set(test.labels), Set(0..<10))
        let mean = test.images.reduce(0, +) / Float(test.images.count)
        XCTAssertEqual(mean, 0, accuracy: 0.05)
    }

    func testAugmentationKeepsShapesAndIsSeeded() throws {
        let data = Dataset(images: (0..<(2 * 16)).map(Float.init), labels: [1, 2], sampleShape: [1, 4, 4], classes: 10)
        var r1 = SeededRandom(seed: 1), r2 = SeededRandom(seed: 1)
        let builder = BatchBuilder(cropPadding: 1, flip: true)
        let (a, la) = builder.make(data, [0, 1], random: &r1)
        let (b, _) = builder.make(data, [0, 1], random: &r2)
        XCTAssertEqual(a, b)
        XCTAssertEqual(a.shape, [2, 1, 4, 4])
        XCTAssertEqual(la, [1, 2])
    }
}

final class InputGradientTests: XCTestCase {
    /// Layers before the first one with parameters compute no input gradient (the MLP's
    /// first Dense would otherwise do a 128×256×784 GEMM for nothing), later ones do.
    func testOnlyLayersAfterParametersComputeInputGradients() throws {
        let model = try Model(spec: .mlp, seed: 1)
        let layers = (model.network as Sequential).layers
        XCTAssertEqual(layers.map(\.needsInputGradient), [false, false, true, true, true, true])
        let x = Tensor(shape: [2, 1, 28, 28], data: (0..<(2 * 784)).map { Float($0 % 7) / 7 })
        let logits = model.forward(x, training: true)
        model.store.zeroGradients()
        model.backward(Tensor(shape: logits.shape, data: Array(repeating: 0.1, count: logits.count)))
        XCTAssertTrue(model.store.gradients.contains { $0 != 0 })
    }
}
