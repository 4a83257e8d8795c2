import type { Duration } from "effect"
import { Cause, Clock, Effect, Option } from "effect"
import { DependencyDown } from "../Domain/Dependency.js"
import type { Dependency } from "../Domain/Dependency.js"

/**
 * What every sync needs besides its repository: the database and a working jj. A sync that fails while one of them
 * does not answer failed because of the environment, not because of its repository: syncing pauses, the missing
 * dependency is probed every `probeInterval`, and every paused repository resumes at once when it answers again.
 * Only a failure with both answering is the repository's own (and gets its backoff).
 */

export interface DependenciesOptions {
  /** Succeeds when the dependency answers; each bounded in time by the caller. */
  readonly probes: Readonly<Record<Dependency, Effect.Effect<unknown, unknown>>>
  readonly probeInterval: Duration.DurationInput
}

const dependencies: ReadonlyArray<Dependency> = ["database", "jj"]

const reasonOf = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  return error instanceof Error && error.message !== "" ? error.message : String(error)
}

export const makeDependencies = (options: DependenciesOptions) =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const down = new Map<Dependency, DependencyDown>()
    // Open while every dependency answers; syncs wait on it.
    const allUp = yield* Effect.makeLatch(true)
    let recovering = false

    /** The dependency's probe: none when it answered, else why not. */
    const probe = (dependency: Dependency) =>
      options.probes[dependency].pipe(
        Effect.matchCause({
          onSuccess: () => Option.none<string>(),
          onFailure: (cause) => Option.some(reasonOf(cause))
        })
      )

    // Probes what is down until everything answers, then lets every waiting sync go.
    const recover = Effect.gen(function*() {
      while (down.size > 0) {
        yield* Effect.sleep(options.probeInterval)
        for (const entry of [...down.values()]) {
          if (Option.isSome(yield* probe(entry.dependency))) continue
          down.delete(entry.dependency)
          const now = yield* Clock.currentTimeMillis
          yield* Effect.logInfo(`${entry.dependency} answers again after ${now - entry.since.getTime()} ms`)
        }
      }
      recovering = false
      yield* allUp.open
      yield* Effect.logInfo("syncing resumes")
    })

    const markDown = (dependency: Dependency, reason: string) =>
      Effect.gen(function*() {
        if (down.has(dependency)) return
        const since = new Date(yield* Clock.currentTimeMillis)
        down.set(dependency, new DependencyDown({ dependency, reason, since }))
        yield* allUp.close
        yield* Effect.logWarning(`${dependency} does not answer (${reason}); syncing pauses until it does`)
        if (!recovering) {
          recovering = true
          yield* Effect.forkIn(recover, scope)
        }
      })

    /**
     * After a failed sync: whether a dependency is down (probing each now unless one already is), in which case the
     * failure is the environment's and the sync waits for `available` instead of backing off.
     */
    const explainsFailure: Effect.Effect<boolean> = Effect.gen(function*() {
      if (down.size > 0) return true
      const failures = yield* Effect.forEach(
        dependencies,
        (dependency) => Effect.map(probe(dependency), (failure) => ({ dependency, failure })),
        { concurrency: "unbounded" }
      )
      for (const { dependency, failure } of failures) {
        if (Option.isSome(failure)) yield* markDown(dependency, failure.value)
      }
      return down.size > 0
    })

    return {
      /** Waits while a dependency is down. */
      available: allUp.await,
      explainsFailure,
      /** The dependencies that do not answer now. */
      down: Effect.sync((): ReadonlyArray<DependencyDown> => [...down.values()])
    } as const
  })

export type Dependencies = Effect.Effect.Success<ReturnType<typeof makeDependencies>>
