import * as FileSystem from "@effect/platform/FileSystem"
import { Clock, Duration, Effect, Option, Schedule, Stream } from "effect"
import type { RepositoryId } from "../Domain/Ids.js"
import type { RepositoryLocation } from "../Domain/Jj.js"
import type { Repository } from "../Domain/Repository.js"
import { reconciliationCutoff } from "../Sync/Plan.js"
import type { WatcherConfig } from "./Config.js"
import { makeNativeEvents } from "./NativeEvents.js"

/** What is kept per watched repository: deliberately small, as there may be tens of thousands. */
export interface Watched {
  readonly id: RepositoryId
  /** "owner/name", for logs. */
  readonly label: string
  readonly root: string
  readonly opHeadsPath: string
  /** Last modification time seen on the op-heads directory. */
  mtime: number | undefined
  native: boolean
}

export interface DetectionOptions {
  readonly config: WatcherConfig
  readonly reconcileInterval: Duration.Duration
  /** Watched-list ids due for reconciliation at or before the cutoff. */
  readonly dueForReconciliation: (cutoff: Date) => Effect.Effect<ReadonlyArray<RepositoryId>, unknown>
  /** Told of a repository whose op-heads directory can no longer be read. */
  readonly onVanished: (id: RepositoryId) => Effect.Effect<void>
}

/**
 * Notices changes: native events on each watched repository's op-heads directory, merged with polling of their
 * modification times (often for repositories without native events, rarely as a safety net for the others), and
 * the periodic reconciliation timer. Also watches the base and owner directories, for rescans.
 */
export const makeDetection = (options: DetectionOptions) =>
  Effect.gen(function*() {
    const { config } = options
    const fs = yield* FileSystem.FileSystem
    const watched = new Map<RepositoryId, Watched>()
    // Repositories without native events, polled often; kept apart so idle ticks do not walk the whole map.
    const polledOnly = new Set<Watched>()

    let fallbackLogged = false
    const onRefused = (refusal: { directory: string; reason: string }) =>
      fallbackLogged ? Effect.void : Effect.logWarning(
        `native file-system events refused (${refusal.reason}); polling such repositories every ${
          Duration.format(config.pollInterval)
        }`
      ).pipe(Effect.tap(() => (fallbackLogged = true)))
    const repoEvents = yield* makeNativeEvents<RepositoryId>(onRefused)
    const directoryEvents = yield* makeNativeEvents<string>(onRefused)

    const mtimeOf = (directory: string) =>
      fs.stat(directory).pipe(
        Effect.map((info) => Option.getOrUndefined(Option.map(info.mtime, (date) => date.getTime())))
      )

    /** Starts watching a repository; returns its entry. */
    const add = (repository: Repository, location: RepositoryLocation) =>
      Effect.gen(function*() {
        const native = config.fsEvents && (yield* repoEvents.add(repository.id, location.opHeadsPath))
        const entry: Watched = {
          id: repository.id,
          label: `${repository.owner}/${repository.name}`,
          root: location.workspaceRoot,
          opHeadsPath: location.opHeadsPath,
          mtime: yield* mtimeOf(location.opHeadsPath).pipe(Effect.orElseSucceed(() => undefined)),
          native
        }
        watched.set(repository.id, entry)
        if (!native) polledOnly.add(entry)
        return entry
      })

    /** Stops watching a repository; false when it was not watched. */
    const remove = (id: RepositoryId) =>
      Effect.suspend(() => {
        const entry = watched.get(id)
        if (entry === undefined) return Effect.succeed(false)
        watched.delete(id)
        polledOnly.delete(entry)
        return Effect.as(repoEvents.remove(id), true)
      })

    /** Directories whose changes call for a rescan (the base and its owner directories). */
    const watchDirectories = (directories: ReadonlyArray<string>) =>
      config.fsEvents
        ? Effect.forEach(directories, (directory) => directoryEvents.add(directory, directory), { discard: true })
        : Effect.void

    /** Ids whose op-heads directory changed since the last look; vanished ones are reported. */
    const poll = (which: "polled" | "native"): Effect.Effect<Array<RepositoryId>> =>
      Effect.gen(function*() {
        const changed: Array<RepositoryId> = []
        const entries = which === "polled" ? polledOnly : watched.values()
        // One at a time: a sweep is rare (or small) and sequential stats cost no fiber each.
        yield* Effect.forEach(entries, (entry) =>
          mtimeOf(entry.opHeadsPath).pipe(
            Effect.flatMap((mtime) =>
              Effect.sync(() => {
                if (mtime !== entry.mtime) {
                  entry.mtime = mtime
                  changed.push(entry.id)
                }
              })
            ),
            Effect.catchAll(() => options.onVanished(entry.id))
          ), { discard: true })
        return changed
      })

    const polling = (which: "polled" | "native", interval: Duration.Duration) =>
      Stream.fromSchedule(Schedule.spaced(interval)).pipe(
        Stream.mapConcatEffect(() => which === "polled" && polledOnly.size === 0 ? Effect.succeed([]) : poll(which))
      )

    /** Watched repositories due for their periodic full comparison with jj, looked up at most every minute. */
    const reconcileMs = Duration.toMillis(options.reconcileInterval)
    const reconciliations: Stream.Stream<RepositoryId> = reconcileMs === 0 ? Stream.empty : Stream.fromSchedule(
      Schedule.spaced(Duration.millis(Math.min(reconcileMs, 60_000)))
    ).pipe(
      Stream.mapConcatEffect(() =>
        Effect.gen(function*() {
          const cutoff = reconciliationCutoff(yield* Clock.currentTimeMillis, options.reconcileInterval)
          if (Option.isNone(cutoff)) return []
          const due = yield* options.dueForReconciliation(cutoff.value)
          return due.filter((id) => watched.has(id))
        }).pipe(
          Effect.catchAllCause((cause) =>
            Effect.as(Effect.logWarning("looking up repositories due for reconciliation failed", cause), [])
          )
        )
      )
    )

    /** Every change notice for every watched repository: native, polled and reconciliation timers. */
    const events: Stream.Stream<RepositoryId> = Stream.mergeAll([
      repoEvents.events,
      reconciliations,
      polling("polled", config.pollInterval),
      polling("native", config.safetyPollInterval)
    ], { concurrency: "unbounded" })

    /** When to look for repositories created or removed: directory events (settled) and a periodic rescan. */
    const rescans = Stream.merge(
      directoryEvents.events.pipe(Stream.debounce(Duration.millis(50))),
      Stream.fromSchedule(Schedule.spaced(config.scanInterval))
    )

    return {
      add,
      remove,
      get: (id: RepositoryId) => watched.get(id),
      entries: () => watched.entries(),
      ids: () => watched.keys(),
      roots: () => new Set([...watched.values()].map((entry) => entry.root)),
      size: () => watched.size,
      nativelyWatched: repoEvents.size,
      watchDirectories,
      events,
      rescans
    } as const
  })
