import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"
import { makeFairSemaphore } from "../src/FairSemaphore.js"

/** The semaphore the scheduler and the details fills wait on: turns in order, one waiter woken per release. */

describe("makeFairSemaphore", () => {
  it.effect("runs at most `permits` at once, and waiters in the order they came", () =>
    Effect.gen(function*() {
      const semaphore = yield* makeFairSemaphore(2)
      const order: Array<number> = []
      let running = 0
      let most = 0
      const gates = yield* Effect.forEach(Array.from({ length: 6 }, (_, i) => i), () => Deferred.make<void>())
      const fibers = yield* Effect.forEach(gates, (gate, i) =>
        semaphore.withPermit(Effect.gen(function*() {
          running++
          most = Math.max(most, running)
          order.push(i)
          yield* Deferred.await(gate)
          running--
        })).pipe(Effect.fork))
      yield* Effect.yieldNow()
      expect(order).toEqual([0, 1])
      expect(yield* semaphore.waiting).toBe(4)
      for (const gate of gates) yield* Deferred.succeed(gate, undefined)
      yield* Fiber.joinAll(fibers)
      expect(order).toEqual([0, 1, 2, 3, 4, 5])
      expect(most).toBe(2)
    }))

  it.effect("an interrupted waiter leaves the line; a permit handed to one interrupted is passed on", () =>
    Effect.gen(function*() {
      const semaphore = yield* makeFairSemaphore(1)
      const hold = yield* Deferred.make<void>()
      const holder = yield* semaphore.withPermit(Deferred.await(hold)).pipe(Effect.fork)
      yield* Effect.yieldNow()
      const ran: Array<string> = []
      const leaving = yield* semaphore.withPermit(Effect.sync(() => ran.push("leaving"))).pipe(Effect.fork)
      const staying = yield* semaphore.withPermit(Effect.sync(() => ran.push("staying"))).pipe(Effect.fork)
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(leaving)
      expect(yield* semaphore.waiting).toBe(1)
      yield* Deferred.succeed(hold, undefined)
      yield* Fiber.join(holder)
      yield* Fiber.join(staying)
      expect(ran).toEqual(["staying"])
      // The permit came back: another turn runs at once.
      expect(yield* semaphore.withPermit(Effect.succeed("again"))).toBe("again")
    }))

  it.effect("thousands of waiters and as many releases end with every turn run once", () =>
    Effect.gen(function*() {
      const semaphore = yield* makeFairSemaphore(2)
      let runs = 0
      yield* Effect.forEach(
        Array.from({ length: 5_000 }, (_, i) => i),
        () => semaphore.withPermit(Effect.sync(() => runs++).pipe(Effect.zipRight(Effect.yieldNow()))),
        { concurrency: "unbounded", discard: true }
      )
      expect(runs).toBe(5_000)
      expect(yield* semaphore.waiting).toBe(0)
    }))
})
