import { Deferred, Effect, Exit, FiberId } from "effect"

/**
 * A semaphore that hands each released permit to the longest waiter, and wakes only it.
 *
 * Effect's own semaphore wakes every waiter on each release; all but one find no permit and wait again, one level
 * deeper in their stack. With thousands of repositories waiting for a few sync or fill permits (a start-up, a burst
 * of operations), memory grew as waiters times releases, up to an out-of-memory crash.
 */
export interface FairSemaphore {
  /** Runs `self` holding a permit, waiting in turn for one. */
  readonly withPermit: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Fibers waiting for a permit. */
  readonly waiting: Effect.Effect<number>
}

export const makeFairSemaphore = (permits: number): Effect.Effect<FairSemaphore> =>
  Effect.sync(() => {
    let free = permits
    // Oldest first.
    const waiters: Array<Deferred.Deferred<void>> = []

    const release = Effect.sync(() => {
      const next = waiters.shift()
      if (next === undefined) free++
      else Deferred.unsafeDone(next, Exit.void)
    })

    const acquire = Effect.suspend(() => {
      if (free > 0) {
        free--
        return Effect.void
      }
      const turn = Deferred.unsafeMake<void>(FiberId.none)
      waiters.push(turn)
      return Deferred.await(turn).pipe(
        Effect.onInterrupt(() =>
          Effect.suspend(() => {
            const at = waiters.indexOf(turn)
            if (at === -1) return release // the permit was handed over already: pass it on
            waiters.splice(at, 1)
            return Effect.void
          })
        )
      )
    })

    return {
      withPermit: <A, E, R>(self: Effect.Effect<A, E, R>) =>
        Effect.uninterruptibleMask((restore) =>
          Effect.flatMap(restore(acquire), () => Effect.ensuring(restore(self), release))
        ),
      waiting: Effect.sync(() => waiters.length)
    }
  })
