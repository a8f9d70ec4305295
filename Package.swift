// swift-tools-version:6.0
// PostTrain: post-training of large language models on MLX's C++ core.
import Foundation
import PackageDescription

// Where MLX lives: `make setup` unpacks the mlx-cpu wheel into .deps/mlx; MLX_PREFIX overrides it
// (a CUDA build of MLX, a Homebrew/macOS install, a source build) and must hold include/ and lib/.
let packageDir = Context.packageDirectory
let mlxPrefix = Context.environment["MLX_PREFIX"] ?? "\(packageDir)/.deps/mlx/mlx"
// OpenBLAS is linked ahead of libmlx so that MLX's cblas_sgemm resolves to it (see docs/ENGINE.md).
let blasLibs: [String] = Context.environment["POSTTRAIN_NO_OPENBLAS"] == "1" ? [] : ["-lopenblas"]

let engineLink: [LinkerSetting] = [
    .unsafeFlags(
        ["-L\(mlxPrefix)/lib", "-Xlinker", "-rpath", "-Xlinker", "\(mlxPrefix)/lib",
         "-Xlinker", "--no-as-needed"] + blasLibs + ["-lmlx", "-Xlinker", "--as-needed"])
]

let swiftFlags: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]

let package = Package(
    name: "PostTrain",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "posttrain", targets: ["posttrain"]),
        .library(name: "PostTrainKit", targets: ["Tensor", "NN", "LM", "PEFT", "PostTrain"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // Layer 0: the exception-safe C shim over mlx::core, plus our own CPU kernels.
        .target(
            name: "CMLX",
            cxxSettings: [
                .unsafeFlags(["-I\(mlxPrefix)/include", "-O3", "-march=native", "-fno-math-errno"])
            ],
            linkerSettings: engineLink),
        // Layer 1: the Swift array type.
        .target(name: "Tensor", dependencies: ["CMLX"], swiftSettings: swiftFlags),
        // Layer 2: modules, layers, losses, optimizers, schedules.
        .target(name: "NN", dependencies: ["Tensor"], swiftSettings: swiftFlags),
        // Layer 3 support (pure Swift, no engine): file formats, tokenizers, chat templates.
        .target(name: "GGUF", swiftSettings: swiftFlags),
        .target(name: "Tokenizers", dependencies: ["GGUF"], swiftSettings: swiftFlags),
        .target(name: "Jinja", swiftSettings: swiftFlags),
        // Layer 3: architectures, loaders, KV cache, sampling and generation.
        .target(name: "LM", dependencies: ["NN", "Tensor", "GGUF", "Tokenizers", "Jinja"], swiftSettings: swiftFlags),
        // Layer 3: parameter-efficient fine-tuning over any NN module.
        .target(name: "PEFT", dependencies: ["NN", "Tensor"], swiftSettings: swiftFlags),
        // Layer 4: data, objectives and trainers, rewards, evaluation, runs.
        .target(name: "PostTrain", dependencies: ["LM", "PEFT", "NN", "Tensor", "Tokenizers", "Jinja", "Yams"], swiftSettings: swiftFlags),
        // Layer 6: the command-line tool.
        .executableTarget(
            name: "posttrain",
            dependencies: ["PostTrain", "PEFT", "LM", "NN", "Tensor", "Tokenizers", "Jinja", "GGUF", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: swiftFlags),
        .executableTarget(name: "posttrain-bench", dependencies: ["Tensor"], path: "Sources/Bench", swiftSettings: swiftFlags),

        .testTarget(name: "TensorTests", dependencies: ["Tensor"]),
        .testTarget(name: "NNTests", dependencies: ["NN", "Tensor"]),
        .testTarget(name: "GGUFTests", dependencies: ["GGUF"]),
        .testTarget(name: "TokenizersTests", dependencies: ["Tokenizers", "GGUF"]),
        .testTarget(name: "JinjaTests", dependencies: ["Jinja"], resources: [.copy("Fixtures")]),
        .testTarget(name: "LMTests", dependencies: ["LM", "NN", "Tensor", "GGUF"], exclude: ["Reference"]),
        .testTarget(name: "PEFTTests", dependencies: ["PEFT", "LM", "NN", "Tensor"]),
        .testTarget(name: "CLITests", dependencies: ["posttrain"]),
        .testTarget(name: "PostTrainTests", dependencies: ["PostTrain", "PEFT", "LM", "NN", "Tensor", "Tokenizers", "Jinja"]),
    ],
    cxxLanguageStandard: .cxx20
)
