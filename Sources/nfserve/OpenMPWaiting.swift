import Foundation

/// How long GNU OpenMP's idle threads spin before they sleep (`GOMP_SPINCOUNT`) in the server.
/// libgomp reads it once, as it loads, before `main`: `nfserve serve` sets it by starting itself
/// again with it in the environment (as launchers of CPU inference servers set
/// `KMP_BLOCKTIME`), unless the environment already says how OpenMP threads wait
/// (`GOMP_SPINCOUNT` or `OMP_WAIT_POLICY`).
///
/// libgomp's default, 300,000 spins, keeps an idle OpenMP thread on its core for several
/// milliseconds after each parallel region. Within a pass that keeps the threads warm between
/// steps; after a served pass it holds a core the server needs for the answers, the clients'
/// next requests and their decoding, all of which the next batch waits for. 10,000 spins
/// bridge most gaps between two steps. resnet50 int8 at 8 clients (docs/performance.md, "Int8
/// and bf16"): 86.7-88.8 requests/s against 85.0-86.8 with the default. The other commands
/// time or run passes alone and keep the default: dm_nfnet_f0's FP32 pass took 74.1 ms with
/// 10,000 against 72.7 with it (`nfserve bench`, medians of 3 alternating runs), where some
/// gaps between steps outlast the shorter spin.
enum OpenMPWaiting {
    static let spinCount = "10000"

    /// Restarts the process with `GOMP_SPINCOUNT` set, unless the environment sets how OpenMP
    /// waits. Where it cannot (no `/proc`), returns and nfserve runs with libgomp's default.
    static func applyDefault() {
        let environment = ProcessInfo.processInfo.environment
        guard environment["GOMP_SPINCOUNT"] == nil, environment["OMP_WAIT_POLICY"] == nil else { return }
        setenv("GOMP_SPINCOUNT", spinCount, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        unsetenv("GOMP_SPINCOUNT")
    }
}
