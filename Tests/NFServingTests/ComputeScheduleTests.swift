import NFLayers
import Testing

@testable import NFServing

/// The order of the compute thread's work across models (`ComputeSchedule`) over synthetic
/// time: single decisions, then whole runs of a simulated compute thread with closed-loop
/// clients. No clock, no sleep, no thread.
@Suite struct ComputeScheduleTests {
    typealias Schedule = ComputeSchedule<String>

    static func ms(_ value: Double) -> Duration { .microseconds(Int64(value * 1000)) }

    /// A schedule that has learned each lane's time: `lanes` of (name, settings, time in ms).
    static func learned(_ lanes: [(String, ModelScheduling, Double)]) -> Schedule {
        var schedule = Schedule()
        var now = Duration.zero
        for (name, settings, time) in lanes {
            schedule.enqueue("warm-up", lane: name, settings: settings, now: now)
            _ = schedule.next(now: now)
            now += ms(time)
            schedule.finished(now: now)
        }
        return schedule
    }

    // MARK: Between passes

    @Test func higherPriorityGoesFirst() {
        var schedule = Schedule()
        schedule.enqueue("low", lane: "a", settings: ModelScheduling(priority: 0), now: .zero)
        schedule.enqueue("high", lane: "b", settings: ModelScheduling(priority: 1), now: Self.ms(5))
        #expect(schedule.next(now: Self.ms(10))?.job == "high")
    }

    @Test func equalPrioritiesGoByDeadline() {
        var schedule = Schedule()
        // "a" came first but may wait 50 ms; "b" came 10 ms later and may wait none.
        schedule.enqueue("patient", lane: "a", settings: ModelScheduling(latencyTarget: Self.ms(50)), now: .zero)
        schedule.enqueue("urgent", lane: "b", settings: ModelScheduling(), now: Self.ms(10))
        #expect(schedule.next(now: Self.ms(20))?.job == "urgent")
        schedule.finished(now: Self.ms(30))
        #expect(schedule.next(now: Self.ms(30))?.job == "patient")
    }

    @Test func equalDeadlinesGoByArrival() {
        var schedule = Schedule()
        schedule.enqueue("first", lane: "a", settings: ModelScheduling(), now: .zero)
        schedule.enqueue("second", lane: "b", settings: ModelScheduling(), now: .zero)
        #expect(schedule.next(now: Self.ms(1))?.job == "first")
    }

    @Test func workOverdueGoesFirstWhateverItsPriority() {
        var schedule = Schedule()
        schedule.enqueue("low", lane: "a", settings: ModelScheduling(priority: -5), now: .zero)
        schedule.enqueue("high", lane: "b", settings: ModelScheduling(priority: 5), now: Self.ms(900))
        // Before the aging limit the priority decides; after it, the job that waited.
        #expect(schedule.next(now: Self.ms(999))?.job == "high")
        schedule.finished(now: Self.ms(1000))
        schedule.enqueue("high again", lane: "b", settings: ModelScheduling(priority: 5), now: Self.ms(1000))
        #expect(schedule.next(now: Self.ms(1000))?.job == "low")
    }

    @Test func aLanesJobsRunInTheirOrder() {
        var schedule = Schedule()
        for i in 0..<3 { schedule.enqueue("\(i)", lane: "a", settings: ModelScheduling(), now: Self.ms(Double(i))) }
        var order: [String] = []
        while let next = schedule.next(now: Self.ms(10)) {
            order.append(next.job)
            schedule.finished(now: Self.ms(10))
        }
        #expect(order == ["0", "1", "2"])
    }

    // MARK: At a step boundary

    /// resnet50-like (400 ms) running since `started`; returns the schedule with it running.
    static func running(_ host: ModelScheduling = ModelScheduling(), others: [(String, ModelScheduling, Double)], at started: Duration) -> Schedule {
        var schedule = learned([("big", host, 400)] + others)
        schedule.enqueue("big pass", lane: "big", settings: host, now: started)
        #expect(schedule.next(now: started)?.job == "big pass")
        return schedule
    }

    @Test func aShortModelRunsBetweenTheStepsOfALongPass() {
        let start = Self.ms(1000)
        var schedule = Self.running(others: [("small", ModelScheduling(), 1)], at: start)
        #expect(schedule.interleaved(now: start + Self.ms(5)) == nil)
        schedule.enqueue("small pass", lane: "small", settings: ModelScheduling(), now: start + Self.ms(6))
        let nested = schedule.interleaved(now: start + Self.ms(10))
        #expect(nested?.job == "small pass" && nested?.lane == "small")
        schedule.interleavedJob(lane: "small", took: Self.ms(1))
        #expect(schedule.running?.interleaved == Self.ms(1))
    }

    @Test func aLowerPriorityNeverInterruptsAPass() {
        let start = Self.ms(1000)
        var schedule = Self.running(
            ModelScheduling(priority: 1), others: [("small", ModelScheduling(priority: 0), 1)], at: start)
        schedule.enqueue("small pass", lane: "small", settings: ModelScheduling(priority: 0), now: start)
        #expect(schedule.interleaved(now: start + Self.ms(100)) == nil)
        // It goes once the pass ends.
        schedule.finished(now: start + Self.ms(400))
        #expect(schedule.next(now: start + Self.ms(400))?.job == "small pass")
    }

    @Test func aHigherPriorityInterrupts() {
        let start = Self.ms(1000)
        var schedule = Self.running(others: [("small", ModelScheduling(priority: 3), 1)], at: start)
        schedule.enqueue("small pass", lane: "small", settings: ModelScheduling(priority: 3), now: start)
        #expect(schedule.interleaved(now: start + Self.ms(8))?.job == "small pass")
    }

    @Test func aLatencyTargetWaitsForAPassThatEndsWithinIt() {
        let start = Self.ms(1000)
        let target = ModelScheduling(latencyTarget: Self.ms(100))
        var schedule = Self.running(others: [("small", target, 1)], at: start)
        // 350 ms into a 400 ms pass: the pass ends within the target, so the request waits.
        schedule.enqueue("late", lane: "small", settings: target, now: start + Self.ms(350))
        #expect(schedule.interleaved(now: start + Self.ms(351)) == nil)
        // Early in the pass, waiting for its end would miss the target: it runs there.
        var early = Self.running(others: [("small", target, 1)], at: start)
        early.enqueue("early", lane: "small", settings: target, now: start + Self.ms(10))
        #expect(early.interleaved(now: start + Self.ms(11))?.job == "early")
    }

    @Test func longModelsAlternateBetweenPassesInsteadOfInterleaving() {
        let start = Self.ms(1000)
        // 150 ms is more than a quarter of 400 ms.
        var schedule = Self.running(others: [("medium", ModelScheduling(), 150)], at: start)
        schedule.enqueue("medium pass", lane: "medium", settings: ModelScheduling(), now: start)
        #expect(schedule.interleaved(now: start + Self.ms(50)) == nil)
    }

    @Test func aModelThatHasNotRunYetIsNotInterleaved() {
        let start = Self.ms(1000)
        var schedule = Self.running(others: [], at: start)
        schedule.enqueue("new pass", lane: "new", settings: ModelScheduling(), now: start)
        #expect(schedule.interleaved(now: start + Self.ms(50)) == nil)
    }

    @Test func decodingRunsAtAnyBoundaryAndOtherWorkAtNone() {
        let start = Self.ms(1000)
        var schedule = Self.running(others: [], at: start)
        schedule.enqueue("other", lane: Schedule.otherLane, settings: ModelScheduling(), now: start)
        schedule.enqueue("decode", lane: Schedule.decodeLane, settings: ModelScheduling(priority: .max), now: start)
        #expect(schedule.interleaved(now: start + Self.ms(1))?.job == "decode")
        #expect(schedule.interleaved(now: start + Self.ms(1)) == nil)
    }

    @Test func interleavedWorkTakesAtMostThePassesOwnTime() {
        let start = Self.ms(1000)
        var schedule = Self.running(others: [("small", ModelScheduling(), 1)], at: start)
        for i in 0..<10 { schedule.enqueue("s\(i)", lane: "small", settings: ModelScheduling(), now: start) }
        // 20 ms in: 10 ms interleaved already, 10 ms of its own; one more is allowed (10 <= 10) ...
        schedule.interleavedJob(lane: "small", took: Self.ms(10))
        #expect(schedule.interleaved(now: start + Self.ms(20)) != nil)
        schedule.interleavedJob(lane: "small", took: Self.ms(1))
        // ... then not (11 > 9) until the pass has done more of its own.
        #expect(schedule.interleaved(now: start + Self.ms(20)) == nil)
        #expect(schedule.interleaved(now: start + Self.ms(31)) != nil)
    }

    @Test func aPassLearnsItsOwnTimeWithoutWhatRanInIt() {
        let start = Self.ms(1000)
        var schedule = Self.running(others: [("small", ModelScheduling(), 1)], at: start)
        schedule.interleavedJob(lane: "small", took: Self.ms(200))
        schedule.finished(now: start + Self.ms(500))
        // 0.7 * 400 + 0.3 * (500 - 200) = 370, not 0.7 * 400 + 0.3 * 500 = 430
        let expected = schedule.expected("big")! / Self.ms(1)
        #expect(abs(expected - 370) < 1e-6)
    }

    // MARK: Whole runs

    /// A model in a simulated run: closed-loop clients, each sending its next request as soon
    /// as the last is answered; every request is one pass of `pass` ms in `steps` equal steps.
    struct Model {
        let name: String
        var settings = ModelScheduling()
        let pass: Double
        var steps = 1
        var clients = 1
    }

    struct Outcome {
        /// Per model: each request's wait from arrival to the start of its pass, in ms.
        var waits: [String: [Double]] = [:]
        /// Per model: requests answered.
        var answered: [String: Int] = [:]
        /// Per model: requests still waiting at the end, and how long the oldest had waited (ms).
        var oldestUnanswered: [String: Double] = [:]
    }

    /// Runs the compute thread as `ComputePool` does for `seconds` of synthetic time: between
    /// passes `next`, at each step boundary of a pass `interleaved` until it answers nil (the
    /// nested passes run whole).
    static func simulate(_ models: [Model], seconds: Double) -> Outcome {
        var schedule = Schedule()
        var outcome = Outcome()
        var now = Duration.zero
        let end = ms(seconds * 1000)
        let byName = Dictionary(uniqueKeysWithValues: models.map { ($0.name, $0) })
        var arrived: [String: Duration] = [:]
        var nextID = 0
        func send(_ model: Model) {
            nextID += 1
            let id = "\(model.name)#\(nextID)"
            arrived[id] = now
            schedule.enqueue(id, lane: model.name, settings: model.settings, now: now)
        }
        func started(_ id: String, _ lane: String) {
            outcome.waits[lane, default: []].append(Double((now - arrived[id]!) / ms(1)))
        }
        func answered(_ id: String, _ lane: String) {
            arrived[id] = nil
            outcome.answered[lane, default: 0] += 1
            send(byName[lane]!)
        }
        for model in models { for _ in 0..<model.clients { send(model) } }
        while now < end {
            guard let (id, lane) = schedule.next(now: now) else { break }
            started(id, lane)
            let model = byName[lane]!
            for step in 0..<model.steps {
                if step > 0 {
                    while let (nestedID, nestedLane) = schedule.interleaved(now: now) {
                        started(nestedID, nestedLane)
                        let took = ms(byName[nestedLane]!.pass)
                        now += took
                        schedule.interleavedJob(lane: nestedLane, took: took)
                        answered(nestedID, nestedLane)
                    }
                }
                now += ms(model.pass / Double(model.steps))
            }
            schedule.finished(now: now)
            answered(id, lane)
        }
        for (id, time) in arrived {
            let lane = String(id.split(separator: "#")[0])
            outcome.oldestUnanswered[lane] = max(outcome.oldestUnanswered[lane] ?? 0, Double((now - time) / ms(1)))
        }
        return outcome
    }

    @Test func aShortRequestsWaitIsBoundedWhileLongPassesRun() {
        // resnet50-like: 400 ms passes in 50 steps of 8 ms, 8 clients; a 1 ms model with 4 clients.
        let big = Model(name: "big", pass: 400, steps: 50, clients: 8)
        let small = Model(name: "small", pass: 1, clients: 4)
        let shared = Self.simulate([big, small], seconds: 20)
        let solo = Self.simulate([big], seconds: 20)
        // Once both lanes' times are known (after their first passes), a small request waits at
        // most two steps of the big pass (one when the pass has interleaving budget left; the
        // last of a pass whose budget is spent and the first of the next) plus the small passes
        // ahead of it.
        let longest = shared.waits["small"]!.dropFirst(8).max()!
        #expect(longest <= 20 + 1e-6)
        // The big model keeps at least half the thread (the interleaving budget) ...
        #expect(Double(shared.answered["big"]!) >= 0.5 * Double(solo.answered["big"]!) - 1)
        // ... and the small one gets the rest.
        #expect(shared.answered["small"]! > 5000)
    }

    @Test func oneClientOfAShortModelWaitsAtMostTwoSteps() {
        let big = Model(name: "big", pass: 400, steps: 50, clients: 8)
        let small = Model(name: "small", pass: 1, clients: 1)
        let shared = Self.simulate([big, small], seconds: 20)
        let longest = shared.waits["small"]!.dropFirst(2).max()!
        #expect(longest <= 16 + 1e-6)
    }

    @Test(arguments: 0..<12) func noModelStarvesUnderAnyMix(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        let count = 2 + Int(random.next() % 3)
        let models = (0..<count).map { i in
            Model(
                name: "m\(i)",
                settings: ModelScheduling(
                    priority: Int(random.next() % 5) - 2, latencyTarget: Self.ms(Double(random.next() % 3) * 50)),
                pass: [1, 5, 30, 120, 400][Int(random.next() % 5)], steps: 1 + Int(random.next() % 50),
                clients: 1 + Int(random.next() % 8))
        }
        let outcome = Self.simulate(models, seconds: 20)
        // Every model is served, and no request waits past the aging limit by more than the
        // work that can be ahead of an overdue request: the pass running (with what runs
        // between its steps, at most as long again) and every other overdue request.
        let longest = models.map(\.pass).max()!
        let requests = Double(models.map(\.clients).reduce(0, +))
        let bound = 1000 + 2 * longest * requests
        for model in models {
            #expect((outcome.answered[model.name] ?? 0) > 0, "\(model.name) starved in \(models)")
            #expect((outcome.waits[model.name]?.max() ?? 0) <= bound, "\(model.name) in \(models)")
            #expect((outcome.oldestUnanswered[model.name] ?? 0) <= bound, "\(model.name) in \(models)")
        }
    }

    @Test func underContinuousHighPriorityLoadALowPriorityModelIsServedAfterTheAgingLimit() {
        let high = Model(name: "high", settings: ModelScheduling(priority: 2), pass: 50, clients: 4)
        let low = Model(name: "low", settings: ModelScheduling(priority: -2), pass: 50, clients: 1)
        let outcome = Self.simulate([high, low], seconds: 30)
        // Its one request waits until overdue (1 s) and then for the pass running then.
        #expect(outcome.waits["low"]!.allSatisfy { $0 >= 1000 - 1e-6 && $0 <= 1000 + 50 + 1e-6 })
        #expect(outcome.answered["low"]! >= 25)
    }
}
