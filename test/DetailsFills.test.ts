import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, TestClock } from "effect"
import { makeDetailsFills } from "../src/Watcher/DetailsFills.js"

/** Lets forked fibers run until they block (on the clock or a deferred). */
const settle = Effect.forEach(Array.from({ length: 50 }), () => Effect.yieldNow(), { discard: true })

describe("details fills", () => {
  it.scoped("requests within the delay join one fill; one during a fill brings exactly one more; failures are reported", () =>
    Effect.gen(function*() {
      const starts: Array<{ key: string; at: number }> = []
      const failures: Array<string> = []
      let release = yield* Deferred.make<void>()
      let failNext = false
      const fills = yield* makeDetailsFills<string, string>({
        concurrency: 1,
        delay: "1 second",
        fill: (key) =>
          Effect.gen(function*() {
            starts.push({ key, at: yield* TestClock.currentTimeMillis })
            yield* Deferred.await(release)
            if (failNext) {
              failNext = false
              return yield* Effect.fail("boom")
            }
          }),
        onFailure: (key) => Effect.sync(() => failures.push(key))
      })
      const finish = Effect.gen(function*() {
        const current = release
        release = yield* Deferred.make<void>()
        yield* Deferred.succeed(current, undefined)
        yield* settle
      })

      // Three requests within the delay: one fill, a second after it.
      yield* fills.request("a")
      yield* settle
      yield* TestClock.adjust("500 millis")
      yield* fills.request("a")
      yield* fills.request("a")
      yield* settle
      expect(starts).toEqual([])
      yield* TestClock.adjust("500 millis")
      yield* settle
      expect(starts).toEqual([{ key: "a", at: 1000 }])

      // A request while it runs: exactly one more fill, a delay after the first ends.
      yield* fills.request("a")
      yield* fills.request("a")
      yield* finish
      expect(starts.length).toBe(1)
      yield* TestClock.adjust("1 second")
      yield* settle
      expect(starts).toEqual([{ key: "a", at: 1000 }, { key: "a", at: 2000 }])
      failNext = true
      yield* finish
      expect(failures).toEqual(["a"])
      expect(yield* fills.running).toBe(0)

      // Another repository waits for the one permit.
      yield* fills.request("b")
      yield* fills.request("c")
      yield* TestClock.adjust("1 second")
      yield* settle
      expect(starts.length).toBe(3)
      yield* finish
      expect(starts.slice(2).map((s) => s.key).sort()).toEqual(["b", "c"])
      yield* finish
      expect(yield* fills.running).toBe(0)
    }))

  it.scoped("a fill gives way while syncs wait, for at most maxDefer", () =>
    Effect.gen(function*() {
      const starts: Array<number> = []
      const syncsDone = yield* Effect.makeLatch(false)
      const fills = yield* makeDetailsFills<string, never>({
        concurrency: 1,
        delay: "1 second",
        giveWay: { until: syncsDone.await, maxDefer: "10 seconds" },
        fill: () => Effect.flatMap(TestClock.currentTimeMillis, (at) => Effect.sync(() => starts.push(at))),
        onFailure: () => Effect.void
      })
      yield* fills.request("a")
      yield* TestClock.adjust("3 seconds")
      yield* settle
      expect(starts).toEqual([])
      yield* syncsDone.open
      yield* settle
      expect(starts).toEqual([3000])
      // Syncs that never stop waiting hold a fill back only so long.
      yield* syncsDone.close
      yield* fills.request("b")
      yield* TestClock.adjust("1 second")
      yield* settle
      yield* TestClock.adjust("4 seconds")
      yield* settle
      expect(starts).toEqual([3000])
      yield* TestClock.adjust("6 seconds")
      yield* settle
      expect(starts).toEqual([3000, 14000])
    }))
})
