import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, TestClock } from "effect"
import { makeScheduler } from "../src/Watcher/Scheduler.js"

/** Lets forked fibers run until they block (on the clock or a deferred). */
const settle = Effect.forEach(Array.from({ length: 50 }), () => Effect.yieldNow(), { discard: true })

/** A sync that records when each call starts and finishes only when the test releases it. */
const makeRecorder = Effect.gen(function*() {
  const starts: Array<{ key: string; at: number }> = []
  let release = yield* Deferred.make<void>()
  let failuresLeft = 0
  let running = 0
  let maxRunning = 0
  const sync = (key: string) =>
    Effect.gen(function*() {
      starts.push({ key, at: yield* TestClock.currentTimeMillis })
      running++
      maxRunning = Math.max(maxRunning, running)
      yield* Deferred.await(release).pipe(Effect.ensuring(Effect.sync(() => running--)))
      if (failuresLeft > 0) {
        failuresLeft--
        return yield* Effect.fail("boom")
      }
    })
  return {
    sync,
    starts,
    maxRunning: () => maxRunning,
    failNext: (n: number) => (failuresLeft = n),
    /** Finishes the syncs waiting now; later ones wait for the next release. */
    release: Effect.gen(function*() {
      const current = release
      release = yield* Deferred.make<void>()
      yield* Deferred.succeed(current, undefined)
      yield* settle
    })
  }
})

const options = {
  debounce: "20 millis",
  maxWait: "100 millis",
  concurrency: 2,
  retryBase: "1 second",
  retryMax: "8 seconds"
} as const

describe("scheduler", () => {
  it.scoped("noneWaiting waits while a sync waits for a permit, not while syncs only run", () =>
    Effect.gen(function*() {
      const recorder = yield* makeRecorder
      const scheduler = yield* makeScheduler({ ...options, concurrency: 1, sync: recorder.sync })
      yield* scheduler.noneWaiting
      yield* scheduler.notify("a")
      yield* settle
      // "a" runs, none waits.
      yield* scheduler.noneWaiting
      yield* scheduler.notify("b")
      yield* settle
      const waited = yield* Effect.fork(scheduler.noneWaiting)
      yield* settle
      expect(waited.unsafePoll()).toBeNull()
      // "a" ends, "b" takes the permit: none waits any more.
      yield* recorder.release
      yield* settle
      expect(waited.unsafePoll()).not.toBeNull()
      expect(recorder.starts.map((start) => start.key)).toEqual(["a", "b"])
      yield* recorder.release
      yield* scheduler.awaitIdle
    }))

  it.scoped("a lone notification syncs at once", () =>
    Effect.gen(function*() {
      const recorder = yield* makeRecorder
      const scheduler = yield* makeScheduler({ ...options, sync: recorder.sync })
      yield* scheduler.notify("a")
      yield* settle
      expect(recorder.starts).toEqual([{ key: "a", at: 0 }])
      yield* recorder.release
      yield* scheduler.awaitIdle
      expect((yield* scheduler.stats).active).toBe(0)
    }))

  it.scoped("a burst during a sync becomes exactly one follow-up, after the quiet period", () =>
    Effect.gen(function*() {
      const recorder = yield* makeRecorder
      const scheduler = yield* makeScheduler({ ...options, sync: recorder.sync })
      yield* scheduler.notify("a")
      yield* settle
      for (let i = 0; i < 5; i++) {
        yield* TestClock.adjust("2 millis")
        yield* scheduler.notify("a")
      }
      yield* recorder.release // first sync ends at t=10; last notification at t=10
      expect(recorder.starts).toHaveLength(1)
      yield* TestClock.adjust("19 millis")
      yield* settle
      expect(recorder.starts).toHaveLength(1)
      yield* TestClock.adjust("1 millis")
      yield* settle
      expect(recorder.starts).toEqual([{ key: "a", at: 0 }, { key: "a", at: 30 }])
      yield* recorder.release
      yield* TestClock.adjust("1 second")
      yield* settle
      expect(recorder.starts).toHaveLength(2)
    }))

  it.scoped("a repository that never goes quiet is still synced every maxWait", () =>
    Effect.gen(function*() {
      const recorder = yield* makeRecorder
      const scheduler = yield* makeScheduler({ ...options, sync: recorder.sync })
      yield* scheduler.notify("a")
      yield* settle
      yield* recorder.release
      for (let t = 0; t < 400; t += 5) {
        yield* scheduler.notify("a")
        yield* TestClock.adjust("5 millis")
        yield* settle
        yield* recorder.release
      }
      const gaps = recorder.starts.slice(1).map((start, i) => start.at - recorder.starts[i]!.at)
      expect(recorder.starts.length).toBeGreaterThanOrEqual(4)
      for (const gap of gaps) expect(gap).toBeLessThanOrEqual(105)
    }))

  it.scoped("at most one sync per repository and `concurrency` in all", () =>
    Effect.gen(function*() {
      const recorder = yield* makeRecorder
      const scheduler = yield* makeScheduler({ ...options, sync: recorder.sync })
      for (const key of ["a", "b", "c", "d", "a"]) yield* scheduler.notify(key)
      yield* settle
      // The second "a" came before a's sync started, so that sync covers it.
      expect(recorder.starts.map((s) => s.key)).toEqual(["a", "b"])
      for (const key of ["a", "b"]) yield* scheduler.notify(key)
      expect(yield* scheduler.stats).toEqual({ inFlight: 2, queued: 2, active: 4 })
      yield* recorder.release
      expect(recorder.maxRunning()).toBe(2)
      expect(recorder.starts.map((s) => s.key).sort()).toEqual(["a", "b", "c", "d"])
      yield* TestClock.adjust("100 millis")
      yield* settle
      yield* recorder.release
      yield* recorder.release
      // a and b were notified during their first sync: one follow-up each.
      expect(recorder.starts.map((s) => s.key).sort()).toEqual(["a", "a", "b", "b", "c", "d"])
      expect(recorder.maxRunning()).toBe(2)
    }))

  it.scoped("a failing repository is retried with exponential backoff and jitter until it succeeds", () =>
    Effect.gen(function*() {
      const recorder = yield* makeRecorder
      const results: Array<boolean> = []
      const scheduler = yield* makeScheduler({
        ...options,
        sync: recorder.sync,
        onResult: (_, exit) => Effect.sync(() => results.push(Exit.isSuccess(exit)) > 0)
      })
      recorder.failNext(3)
      yield* scheduler.notify("a")
      yield* settle
      yield* recorder.release
      // Retry n waits 1s * 2^(n-1), times a jitter in [0.5, 1.5].
      for (const [min, max] of [[500, 1500], [1000, 3000], [2000, 6000]] as const) {
        const before = recorder.starts.length
        const start = yield* TestClock.currentTimeMillis
        yield* TestClock.adjust(min - 1)
        yield* settle
        expect(recorder.starts.length).toBe(before)
        yield* TestClock.adjust(max - min + 1)
        yield* settle
        expect(recorder.starts.length).toBe(before + 1)
        expect(recorder.starts.at(-1)!.at - start).toBeGreaterThanOrEqual(min)
        yield* recorder.release
      }
      expect(results).toEqual([false, false, false, true])
      yield* scheduler.awaitIdle
    }))

  it.scoped("a notification during the backoff of a failing repository starts an attempt at once", () =>
    Effect.gen(function*() {
      const recorder = yield* makeRecorder
      const scheduler = yield* makeScheduler({ ...options, retryBase: "1 minute", sync: recorder.sync })
      recorder.failNext(2)
      yield* scheduler.notify("a")
      yield* settle
      yield* recorder.release
      yield* TestClock.adjust("100 millis")
      yield* settle
      expect(recorder.starts.length).toBe(1)
      yield* scheduler.notify("a")
      yield* settle
      expect(recorder.starts.map((start) => start.at)).toEqual([0, 100])
      yield* recorder.release
      // The second failure backs off again until the next notification.
      yield* TestClock.adjust("200 millis")
      yield* settle
      expect(recorder.starts.length).toBe(2)
      yield* scheduler.notify("a")
      yield* settle
      expect(recorder.starts.map((start) => start.at)).toEqual([0, 100, 300])
      yield* recorder.release
      yield* scheduler.awaitIdle
    }))

  it.scoped("a failure the environment explains pauses the key without backoff until it is available again", () =>
    Effect.gen(function*() {
      const recorder = yield* makeRecorder
      const available = yield* Effect.makeLatch(true)
      const results: Array<boolean> = []
      const scheduler = yield* makeScheduler({
        ...options,
        retryBase: "1 minute",
        sync: recorder.sync,
        available: available.await,
        // The dependency goes down with the failure.
        environmentFailed: Effect.as(available.close, true),
        onResult: (_, exit) => Effect.sync(() => results.push(Exit.isSuccess(exit)) > 0)
      })
      recorder.failNext(1)
      yield* scheduler.notify("a")
      yield* scheduler.notify("b")
      yield* settle
      yield* recorder.release
      yield* TestClock.adjust("5 seconds")
      yield* settle
      // "b" succeeded; "a" failed with the environment down and waits, with no result reported.
      expect(recorder.starts.map((start) => start.key)).toEqual(["a", "b"])
      expect(results).toEqual([true])
      yield* available.open
      yield* settle
      expect(recorder.starts.at(-1)).toEqual({ key: "a", at: 5_000 })
      yield* recorder.release
      expect(results).toEqual([true, true])
      yield* scheduler.awaitIdle
    }))
})

describe("scheduler without leading edge (a trailing debounce)", () => {
  it.scoped("waits out the quiet period before the first sync", () =>
    Effect.gen(function*() {
      const recorder = yield* makeRecorder
      const scheduler = yield* makeScheduler({ ...options, leading: false, sync: recorder.sync })
      yield* scheduler.notify("a")
      yield* settle
      expect(recorder.starts).toEqual([])
      yield* TestClock.adjust("10 millis")
      yield* scheduler.notify("a")
      yield* TestClock.adjust("19 millis")
      yield* settle
      expect(recorder.starts).toEqual([])
      yield* TestClock.adjust("1 millis")
      yield* settle
      expect(recorder.starts).toEqual([{ key: "a", at: 30 }])
      yield* recorder.release
    }))
})
