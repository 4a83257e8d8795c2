import { Effect, FiberSet } from "effect"
import type { Cause, Duration, Scope } from "effect"
import { makeFairSemaphore } from "../FairSemaphore.js"

/** Runs a repository's details fill in the background, at most one per repository at a time. */
export interface DetailsFills<K> {
  /** Asks for a fill; one that arrives while a fill of the same repository runs makes it run once more after. */
  readonly request: (key: K) => Effect.Effect<void>
  /** Repositories whose fill is running now. */
  readonly running: Effect.Effect<number>
}

/**
 * Background fills, one fiber per repository with work, `concurrency` in all; each starts `delay` after it was
 * asked for, and the requests meanwhile join it. A failure is reported through `onFailure` and the repository's next
 * request tries again. Fibers end with the scope.
 */
export const makeDetailsFills = <K, E>(options: {
  readonly fill: (key: K) => Effect.Effect<unknown, E>
  readonly concurrency: number
  readonly delay: Duration.DurationInput
  readonly onFailure: (key: K, cause: Cause.Cause<E>) => Effect.Effect<void>
  /**
   * Waited for before a fill starts, at most `maxDefer` (so that fills still run under a steady load): syncs come
   * first, and a fill started while they queue would take the processors they wait for.
   */
  readonly giveWay?: { readonly until: Effect.Effect<void>; readonly maxDefer: Duration.DurationInput }
}): Effect.Effect<DetailsFills<K>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const fibers = yield* FiberSet.make()
    // Every repository with a fill due waits here (see `FairSemaphore`).
    const permits = yield* makeFairSemaphore(options.concurrency)
    // A repository present runs a fill; `true` when another was asked for meanwhile.
    const requested = new Map<K, boolean>()

    const giveWay = options.giveWay === undefined
      ? Effect.void
      : Effect.timeoutOption(options.giveWay.until, options.giveWay.maxDefer)

    const run = (key: K): Effect.Effect<void> =>
      Effect.sleep(options.delay).pipe(
        // Requests from now on ask for another fill after this one: it may have read its batch already.
        Effect.zipRight(Effect.sync(() => requested.set(key, false))),
        Effect.zipRight(permits.withPermit(Effect.zipRight(giveWay, options.fill(key)))),
        Effect.catchAllCause((cause) => options.onFailure(key, cause)),
        Effect.zipRight(Effect.suspend(() => {
          if (requested.get(key) === true) return run(key)
          requested.delete(key)
          return Effect.void
        }))
      )

    const request = (key: K) =>
      Effect.suspend(() => {
        if (requested.has(key)) {
          requested.set(key, true)
          return Effect.void
        }
        requested.set(key, false)
        return FiberSet.run(fibers, run(key)).pipe(Effect.asVoid)
      })

    return { request, running: Effect.sync(() => requested.size) }
  })
