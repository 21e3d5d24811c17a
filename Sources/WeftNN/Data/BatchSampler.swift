/// The order of one epoch, shared by every rank (seeded by seed and epoch), cut into equal
/// contiguous shards, one per rank, and then into batches. Any batch can be rebuilt from
/// (seed, epoch, rank, index) alone, which makes resuming mid-epoch exact.
public struct BatchSampler: Sendable {
    public let samples: Int
    public let batchSize: Int
    public let rank: Int
    public let ranks: Int
    public let seed: UInt64

    public init(samples: Int, batchSize: Int, rank: Int, ranks: Int, seed: UInt64) throws {
        guard samples / ranks >= 1 && batchSize >= 1 && samples / ranks >= min(batchSize, samples / ranks) && samples >= ranks
        else { throw DataError.tooFewSamples(samples: samples, ranks: ranks, batch: batchSize) }
        self.samples = samples
        self.batchSize = batchSize
        self.rank = rank
        self.ranks = ranks
        self.seed = seed
    }

    /// Samples per rank per epoch (the remainder after equal shards is dropped).
    public var shardSize: Int { samples / ranks }
    /// Batches per rank per epoch, the last one possibly short (same on every rank).
    public var batchesPerEpoch: Int { (shardSize + batchSize - 1) / batchSize }

    public func permutation(epoch: Int) -> [Int] {
        var random = SeededRandom(seed: seed).derived(UInt64(epoch) &+ 1)
        var order = Array(0..<samples)
        for i in stride(from: samples - 1, to: 0, by: -1) {
            order.swapAt(i, Int(random.next() % UInt64(i + 1)))
        }
        return order
    }

    /// Indices of this rank's batch `index` of `epoch`, given the epoch's permutation.
    public func batch(_ index: Int, of order: [Int]) -> ArraySlice<Int> {
        let start = rank * shardSize + index * batchSize
        return order[start..<min(start + batchSize, (rank + 1) * shardSize)]
    }
}

/// Builds input tensors from dataset indices, with optional augmentation (random crop
/// after zero padding, horizontal flip) drawn from a generator seeded per batch.
public struct BatchBuilder: Sendable {
    public var cropPadding = 0
    public var flip = false

    public init(cropPadding: Int = 0, flip: Bool = false) {
        self.cropPadding = cropPadding
        self.flip = flip
    }

    public func make(_ dataset: Dataset, _ indices: ArraySlice<Int>, random: inout SeededRandom) -> (Tensor, [Int32]) {
        let size = dataset.sampleSize, shape = dataset.sampleShape
        var data = [Float](repeating: 0, count: indices.count * size)
        let h = shape.count == 3 ? shape[1] : 1, w = shape.count == 3 ? shape[2] : size, c = shape.count == 3 ? shape[0] : 1
        // Padding value: a zero pixel after normalisation.
        let background = -FashionMNIST.mean / FashionMNIST.std
        for (k, index) in indices.enumerated() {
            let source = index * size, target = k * size
            if cropPadding == 0 && !flip {
                data.withUnsafeMutableBufferPointer { d in
                    dataset.images.withUnsafeBufferPointer { s in
                        (d.baseAddress! + target).update(from: s.baseAddress! + source, count: size)
                    }
                }
                continue
            }
            let dy = cropPadding > 0 ? Int(random.next() % UInt64(2 * cropPadding + 1)) - cropPadding : 0
            let dx = cropPadding > 0 ? Int(random.next() % UInt64(2 * cropPadding + 1)) - cropPadding : 0
            let mirrored = flip && random.next() & 1 == 1
            for ch in 0..<c {
                for y in 0..<h {
                    for x in 0..<w {
                        let sy = y + dy, sxRaw = x + dx
                        let sx = mirrored ? w - 1 - sxRaw : sxRaw
                        let inside = sy >= 0 && sy < h && sxRaw >= 0 && sxRaw < w
                        data[target + (ch * h + y) * w + x] = inside ? dataset.images[source + (ch * h + sy) * w + sx] : background
                    }
                }
            }
        }
        return (Tensor(shape: [indices.count] + shape, data: data), indices.map { dataset.labels[$0] })
    }
}
