// swift-tools-version:6.0
import Foundation
import PackageDescription

/// The package's folder: the linker needs the export list's absolute path.
let packageFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path

let package = Package(
    name: "Weft",
    products: [
        .executable(name: "weft", targets: ["weft"]),
        .library(name: "Weft", targets: ["Weft"]),
        .library(name: "WeftTopology", targets: ["WeftTopology"]),
        // libweft-mpi.so: Weft's collectives inside any MPI program (LD_PRELOAD or linked first).
        .library(name: "weft-mpi", type: .dynamic, targets: ["WeftInterpose"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.1.1"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
    ],
    targets: [
        // Open MPI's C headers and library, found through pkg-config (libopenmpi-dev).
        .systemLibrary(
            name: "CMPI",
            pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev"])]
        ),
        // The thin C shim: transport, RMA windows, reduction kernels, schedule executor.
        .target(
            name: "CWeft",
            dependencies: ["CMPI"],
            cSettings: [.unsafeFlags(["-O3", "-fno-strict-aliasing"])]
        ),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // Tensors, layers with explicit backward passes, losses, optimizers, data.
        .systemLibrary(name: "CMalloc"),
        .target(
            name: "WeftNN",
            dependencies: ["CBLAS", "CZlib", "CMalloc"],
            // Layers touch their own buffers from one thread; dynamic exclusivity checks
            // cost ~5% of a training step.
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"])]
        ),
        // Training jobs across ranks: data-parallel, mutual learning, co-distillation, NAS.
        .target(name: "WeftTrain", dependencies: ["Weft", "WeftNN", "WeftTopology"]),
        // Algorithms as data: schedules, their generators and the symbolic checker.
        .target(
            name: "WeftTopology",
            dependencies: [
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "HeapModule", package: "swift-collections"),
            ]
        ),
        // The interposition library's MPI entry points, per-communicator state and report (C)…
        .target(
            name: "CWeftInterpose",
            dependencies: ["CWeft", "CMPI"],
            cSettings: [.unsafeFlags(["-O3", "-fno-strict-aliasing"])]
        ),
        // …and its policy (configuration, auto's size ranges, schedules) in Swift.
        // Only the MPI entry points are exported (exports.map says why).
        .target(
            name: "WeftInterpose",
            dependencies: ["CWeftInterpose", "Weft", "WeftTopology"],
            exclude: ["exports.map"],
            linkerSettings: [.unsafeFlags(["-Xlinker", "--version-script=\(packageFolder)/Sources/WeftInterpose/exports.map"])]
        ),
        // The Swift communication API over the shim.
        .target(name: "Weft", dependencies: ["CWeft", "WeftTopology"]),
        .executableTarget(
            name: "weft",
            dependencies: [
                "Weft", "WeftTopology", "WeftNN", "WeftTrain",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Multi-rank tests, run under mpirun by launch/test (XCTest cannot host MPI ranks).
        .executableTarget(
            name: "weft-mpi-tests",
            dependencies: ["Weft", "WeftTopology", "WeftNN", "WeftTrain"],
            path: "Tests/WeftMPITests",
            // Top-level test script code; Swift 5 mode keeps its globals simple.
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        .testTarget(name: "WeftTopologyTests", dependencies: ["WeftTopology"]),
        .testTarget(name: "WeftNNTests", dependencies: ["WeftNN"]),
        .testTarget(name: "WeftTrainTests", dependencies: ["WeftTrain", "WeftNN"]),
        .testTarget(
            name: "WeftTests",
            dependencies: ["Weft", "WeftTopology", .product(name: "Numerics", package: "swift-numerics")]
        ),
    ]
)
