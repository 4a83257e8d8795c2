import { Clock, Deferred, Duration, Effect, Exit, FiberMap, Option, Random } from "effect"
import type { Scope } from "effect"
import { makeFairSemaphore } from "../FairSemaphore.js"

export interface SchedulerOptions<K, E, A = unknown> {
  /** Quiet time that coalesces a burst arriving while a sync is running or about to run again. */
  readonly debounce: Duration.DurationInput
  /** A repository that never goes quiet is still synced at least this often. */
  readonly maxWait: Duration.DurationInput
  /** Syncs in flight across all repositories. */
  readonly concurrency: number
  /**
   * Sync a lone notification at once (default). When false, every sync waits out the quiet period first: a
   * trailing debounce, kept for comparison in benchmarks.
   */
  readonly leading?: boolean
  /** First retry delay after a failure; doubles per consecutive failure (with jitter) up to `retryMax`. */
  readonly retryBase: Duration.DurationInput
  readonly retryMax: Duration.DurationInput
  readonly sync: (key: K) => Effect.Effect<A, E>
  /** Waits while syncing is paused because something every sync needs is down (see `Watcher/Dependencies`). */
  readonly available?: Effect.Effect<void>
  /**
   * Asked after a failed sync: true when it failed because of the environment (a dependency is down), not because of
   * its key; the key then waits for `available` and is synced again at once, with no backoff and no `onResult`.
   */
  readonly environmentFailed?: Effect.Effect<boolean>
  /**
   * Told of every sync's outcome, with when the oldest change it covers was first notified and how many syncs of
   * the key failed in a row before it; answering `false` drops the key (no retry) until it is notified again.
   */
  readonly onResult?: (
    key: K,
    exit: Exit.Exit<A, E>,
    info: { readonly pendingSince: number; readonly previousFailures: number }
  ) => Effect.Effect<boolean>
}

interface KeyState {
  dirty: boolean
  firstDirtyAt: number
  lastEventAt: number
  failures: number
  /** Set while the key backs off after a failure: a notification ends the wait. */
  wake: Deferred.Deferred<void> | undefined
}

/**
 * Turns change notifications into syncs, per key (repository):
 * - a notification for an idle key starts a sync at once (a lone operation waits for nothing);
 * - notifications during a sync schedule exactly one follow-up, started once the key has been quiet for `debounce`,
 *   or `maxWait` after the first of them, whichever comes first;
 * - at most one sync per key in flight, and at most `concurrency` in all;
 * - a failed sync is retried with exponential backoff and jitter until one succeeds, or at once when a notification
 *   arrives meanwhile (a new state may succeed), or, when it failed because of the environment, as soon as
 *   `available` lets it.
 * A key whose work is done holds no fiber and no state.
 */
export const makeScheduler = <K, E, A = unknown>(
  options: SchedulerOptions<K, E, A>
): Effect.Effect<Scheduler<K>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const debounceMs = Duration.toMillis(options.debounce)
    const maxWaitMs = Duration.toMillis(options.maxWait)
    const retryBaseMs = Duration.toMillis(options.retryBase)
    const retryMaxMs = Duration.toMillis(options.retryMax)
    // Every key with work waits here: a fair semaphore wakes one waiter per finished sync (see `FairSemaphore`).
    const permits = yield* makeFairSemaphore(options.concurrency)
    const workers = yield* FiberMap.make<K, void, never>()
    const states = new Map<K, KeyState>()
    let running = 0
    let waiting = 0
    let closing = false
    // Open while no sync is running; shutdown waits on it.
    const noneRunning = yield* Effect.makeLatch(true)
    // Open while no sync waits for a permit; background work can give way to syncs with it.
    const noneWaiting = yield* Effect.makeLatch(true)
    const wait = () => {
      if (waiting++ === 0) noneWaiting.unsafeClose()
    }
    const stopWaiting = () => {
      if (--waiting === 0) noneWaiting.unsafeOpen()
    }

    const runOnce = (key: K, state: KeyState) =>
      Effect.gen(function*() {
        let started = false
        let pendingSince = state.firstDirtyAt
        wait()
        const exit = yield* permits.withPermit(
          Effect.suspend(() => {
            started = true
            stopWaiting()
            if (closing) return Effect.succeed(undefined)
            if (running++ === 0) noneRunning.unsafeClose()
            // Everything notified so far is covered by this sync: it reads the op heads after this point.
            pendingSince = state.firstDirtyAt
            state.dirty = false
            return Effect.exit(options.sync(key)).pipe(
              Effect.ensuring(Effect.suspend(() => --running === 0 ? noneRunning.open : Effect.void))
            )
          })
        ).pipe(Effect.onInterrupt(() => Effect.sync(() => started ? undefined : stopWaiting())))
        if (exit === undefined) return undefined
        if (Exit.isFailure(exit) && options.environmentFailed !== undefined && (yield* options.environmentFailed)) {
          return { exit, keep: true, environment: true }
        }
        const keep = options.onResult
          ? yield* options.onResult(key, exit, { pendingSince, previousFailures: state.failures })
          : true
        return { exit, keep, environment: false }
      })

    const backoff = (failures: number) =>
      Effect.map(Random.nextRange(0.5, 1.5), (jitter) =>
        Math.round(Math.min(retryMaxMs, retryBaseMs * 2 ** Math.min(failures - 1, 30)) * jitter))

    // Waits until the key has been quiet for `debounce`, or `maxWait` after its first pending notification.
    const coalesce = (state: KeyState) =>
      Effect.gen(function*() {
        while (true) {
          const now = yield* Clock.currentTimeMillis
          const wait = Math.min(state.lastEventAt + debounceMs, state.firstDirtyAt + maxWaitMs) - now
          if (wait <= 0) {
            return
          }
          yield* Effect.sleep(Duration.millis(wait))
        }
      })

    const worker = (key: K, state: KeyState): Effect.Effect<void> =>
      Effect.gen(function*() {
        if (options.leading === false) {
          yield* coalesce(state)
        }
        while (!closing) {
          if (options.available !== undefined) {
            yield* options.available
          }
          const outcome = yield* runOnce(key, state)
          if (outcome === undefined || !outcome.keep) {
            return
          }
          const { exit } = outcome
          if (outcome.environment) {
            continue
          }
          if (Exit.isFailure(exit)) {
            state.failures++
            // Notified during the failed sync: a newer state is there already.
            if (state.dirty) {
              continue
            }
            const wake = yield* Deferred.make<void>()
            state.wake = wake
            yield* Effect.raceFirst(Effect.sleep(Duration.millis(yield* backoff(state.failures))), Deferred.await(wake))
            state.wake = undefined
            continue
          }
          state.failures = 0
          // Deciding to stop and forgetting the key happen in one step, so no notification falls in between.
          const done = yield* Effect.sync(() =>
            !state.dirty && states.delete(key)
          )
          if (done) return
          // Coalesce the notifications that came during the sync.
          yield* coalesce(state)
        }
      }).pipe(Effect.ensuring(Effect.sync(() => {
        if (states.get(key) === state) states.delete(key)
      })))

    const notify = (key: K) =>
      Effect.gen(function*() {
        if (closing) return
        const now = yield* Clock.currentTimeMillis
        const state = states.get(key)
        if (state !== undefined) {
          if (!state.dirty) state.firstDirtyAt = now
          state.dirty = true
          state.lastEventAt = now
          if (state.wake !== undefined) yield* Deferred.succeed(state.wake, undefined)
          return
        }
        const fresh: KeyState = { dirty: true, firstDirtyAt: now, lastEventAt: now, failures: 0, wake: undefined }
        states.set(key, fresh)
        yield* FiberMap.run(workers, key, worker(key, fresh))
      })

    /** Stops any sync or retry of this key (e.g. its directory vanished). */
    const cancel = (key: K) => FiberMap.remove(workers, key)

    /** Waits until no key has work pending or in flight. */
    const awaitIdle = FiberMap.awaitEmpty(workers)

    /** Starts no more syncs and waits, at most `timeout`, for the ones in flight to finish. */
    const shutdown = (timeout: Duration.DurationInput) =>
      Effect.sync(() => (closing = true)).pipe(
        Effect.zipRight(noneRunning.await),
        Effect.timeoutOption(timeout),
        Effect.map(Option.isSome)
      )

    const stats = Effect.sync(() => ({ inFlight: running, queued: waiting, active: states.size }))

    /** A sync of the key is running, due or backing off. */
    const isActive = (key: K) => states.has(key)

    return { notify, cancel, awaitIdle, shutdown, stats, isActive, noneWaiting: noneWaiting.await } satisfies Scheduler<
      K
    >
  })

export interface Scheduler<K> {
  readonly notify: (key: K) => Effect.Effect<void>
  readonly cancel: (key: K) => Effect.Effect<void>
  readonly awaitIdle: Effect.Effect<void>
  /** True when every sync in flight finished within the timeout. */
  readonly shutdown: (timeout: Duration.DurationInput) => Effect.Effect<boolean>
  readonly stats: Effect.Effect<{ readonly inFlight: number; readonly queued: number; readonly active: number }>
  readonly isActive: (key: K) => boolean
  /** Waits until no sync waits for a permit (at once when none does). */
  readonly noneWaiting: Effect.Effect<void>
}
