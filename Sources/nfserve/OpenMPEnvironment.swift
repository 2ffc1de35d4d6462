import Foundation

/// oneDNN (Debian's build) parallelizes with GNU OpenMP, whose threads spin at every barrier
/// before sleeping. When another process is busy on one of the cores, the spinning thread
/// steals the time its partner needs: a 2-thread resnet50 forward went from 117 ms to 1,272 ms
/// on this 2-core machine while a training job ran (README, Performance). Passive waiting avoids
/// that. libgomp reads its environment when it is loaded, before `main`, so setting it means
/// starting again: once, only when the user has not chosen a policy, and never in a loop.
enum OpenMPEnvironment {
    static func preferPassiveWaiting() {
        let env = ProcessInfo.processInfo.environment
        guard env["OMP_WAIT_POLICY"] == nil, env["NFSERVE_OMP_REEXEC"] == nil else { return }
        setenv("OMP_WAIT_POLICY", "passive", 1)
        setenv("NFSERVE_OMP_REEXEC", "1", 1)
        _ = execv("/proc/self/exe", CommandLine.unsafeArgv)
        // execv returned: carry on with the default policy.
    }
}
