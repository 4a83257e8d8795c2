import { FileSystem, Path } from "@effect/platform"
import { Clock, Config, Duration, Effect, Exit, Metric, Option, Schedule, Schema, Stream } from "effect"
import os from "node:os"
import type { RepositoryId } from "./Domain/Ids.js"
import type { RepositoryLocation } from "./Domain/Jj.js"
import { Repository, RepositoryName } from "./Domain/Repository.js"
import { JjClient } from "./JjClient.js"
import { RepositoryPathNotFound } from "./JjClient/Errors.js"
import { Repositories } from "./Repositories.js"
import * as Metrics from "./Metrics.js"
import { SyncConfig, SyncService } from "./Sync.js"
import type { SyncResult } from "./Sync.js"
import { makeNativeEvents } from "./Watcher/NativeEvents.js"
import { makeScheduler } from "./Watcher/Scheduler.js"
import type { Scheduler } from "./Watcher/Scheduler.js"

const millis = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.withDefault(fallback),
    Config.validate({ message: `${name} must be a non-negative number of milliseconds`, validation: (n) => n >= 0 }),
    Config.map(Duration.millis)
  )

export const WatcherConfig = Config.all({
  basePath: Config.string("REPOS_BASE_PATH").pipe(Config.withDefault("repos")),
  enabled: Config.boolean("WATCHER_ENABLED").pipe(Config.withDefault(true)),
  fsEvents: Config.boolean("WATCHER_FS_EVENTS").pipe(Config.withDefault(true)),
  /** Polling of repositories without native events (100 reproduces the earlier design). */
  pollInterval: millis("WATCHER_POLL_INTERVAL_MS", 1_000),
  /** Safety-net polling of repositories that have native events. */
  safetyPollInterval: millis("WATCHER_SAFETY_POLL_INTERVAL_MS", 30_000),
  /** Rescan of the base directory for repositories created or removed (also triggered by native events). */
  scanInterval: millis("WATCHER_SCAN_INTERVAL_MS", 30_000),
  debounce: millis("WATCHER_DEBOUNCE_MS", 10),
  /** Sync a lone change at once; false waits out the debounce first, as the earlier design did. */
  leadingEdge: Config.boolean("WATCHER_LEADING_EDGE").pipe(Config.withDefault(true)),
  maxWait: millis("WATCHER_MAX_WAIT_MS", 500),
  concurrency: Config.integer("WATCHER_CONCURRENCY").pipe(Config.withDefault(Math.max(2, os.availableParallelism()))),
  retryBase: millis("WATCHER_RETRY_BASE_MS", 1_000),
  retryMax: millis("WATCHER_RETRY_MAX_MS", 300_000),
  shutdownTimeout: millis("WATCHER_SHUTDOWN_TIMEOUT_MS", 10_000)
})

/** What is kept per watched repository: deliberately small, as there may be tens of thousands. */
interface Watched {
  readonly id: RepositoryId
  /** "owner/name", for logs. */
  readonly label: string
  readonly root: string
  readonly opHeadsPath: string
  /** Last modification time seen on the op-heads directory. */
  mtime: number | undefined
  native: boolean
}

/** A path given for a repository leaves `REPOS_BASE_PATH` (through `..` or a symlink). */
export class PathOutsideBase extends Schema.TaggedError<PathOutsideBase>()("PathOutsideBase", {
  path: Schema.String
}) {
  get message() {
    return `${this.path} resolves outside the base directory`
  }
}

export class WatcherStatus extends Schema.Class<WatcherStatus>("WatcherStatus")({
  /** Configured on (`WATCHER_ENABLED`). */
  enabled: Schema.Boolean,
  /** Detection is running (false once shutdown began). */
  running: Schema.Boolean,
  watchedRepos: Schema.Number,
  nativeEvents: Schema.Boolean,
  nativelyWatched: Schema.Number,
  inFlight: Schema.Number,
  queued: Schema.Number,
  syncsSucceeded: Schema.Number,
  syncsFailed: Schema.Number
}) {}

/**
 * Keeps the mirror of every watched repository current: the jj repositories under `REPOS_BASE_PATH/<owner>/<repo>`
 * plus the persisted watch list (`repositories.watched`). Detection is one Stream of repository ids: native events
 * on each op-heads directory merged with polling of their modification times; the scheduler turns it into syncs.
 */
export class Watcher extends Effect.Service<Watcher>()("Watcher", {
  scoped: Effect.gen(function*() {
    const config = yield* WatcherConfig
    const syncConfig = yield* SyncConfig
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const jj = yield* JjClient
    const repositories = yield* Repositories
    const sync = yield* SyncService
    const basePath = path.resolve(config.basePath)
    // A watcher without a usable jj would only collect failures: refuse to start instead.
    if (config.enabled) yield* jj.checkVersion

    const watched = new Map<RepositoryId, Watched>()
    // Repositories without native events, polled often; kept apart so idle ticks do not walk the whole map.
    const polledOnly = new Set<Watched>()
    const vanishedReported = new Set<RepositoryId>()
    let syncsSucceeded = 0
    let syncsFailed = 0

    let fallbackLogged = false
    const onRefused = (refusal: { directory: string; reason: string }) =>
      fallbackLogged ? Effect.void : Effect.logWarning(
        `native file-system events refused (${refusal.reason}); polling such repositories every ${
          Duration.format(config.pollInterval)
        }`
      ).pipe(Effect.tap(() => (fallbackLogged = true)))
    const repoEvents = yield* makeNativeEvents<RepositoryId>(onRefused)
    const directoryEvents = yield* makeNativeEvents<string>(onRefused)

    const unwatch = (entry: Watched) =>
      Effect.suspend(() => {
        watched.delete(entry.id)
        polledOnly.delete(entry)
        return repoEvents.remove(entry.id)
      })

    /**
     * Stops watching a repository whose directory is gone; its rows stay. Reported once. The caller stops its
     * scheduled work (from inside a sync's outcome, by dropping the key).
     */
    const forget = (id: RepositoryId): Effect.Effect<void> =>
      Effect.gen(function*() {
        const entry = watched.get(id)
        if (entry === undefined) return
        yield* unwatch(entry)
        if (!vanishedReported.has(id)) {
          vanishedReported.add(id)
          yield* Effect.logWarning(`stopped watching ${entry.label}: ${entry.root} vanished`)
          yield* repositories.recordFailure(id, `repository directory vanished: ${entry.root}`).pipe(
            Effect.ignore
          )
        }
      })

    const vanish = (id: RepositoryId) => Effect.zipRight(forget(id), scheduler.cancel(id))

    const scheduler: Scheduler<RepositoryId> = yield* makeScheduler<RepositoryId, unknown, SyncResult>({
      debounce: config.debounce,
      maxWait: config.maxWait,
      leading: config.leadingEdge,
      concurrency: config.concurrency,
      retryBase: config.retryBase,
      retryMax: config.retryMax,
      sync: (id) => sync.syncById(id),
      onResult: (id, exit, { pendingSince, previousFailures }) =>
        Exit.match(exit, {
          onSuccess: (result) =>
            Effect.gen(function*() {
              syncsSucceeded++
              const entry = watched.get(id)
              if (entry !== undefined && previousFailures > 0) {
                yield* Metric.set(Metric.tagged(Metrics.repositoryFailures, "repository", entry.label), 0)
              }
              if (!result.upToDate) {
                const now = yield* Clock.currentTimeMillis
                yield* Metric.update(Metrics.changeToDatabase, Math.max(0, now - pendingSince) / 1000)
              }
              return true
            }),
          onFailure: (cause) =>
            Effect.gen(function*() {
              syncsFailed++
              const entry = watched.get(id)
              if (entry !== undefined) {
                yield* Metric.set(
                  Metric.tagged(Metrics.repositoryFailures, "repository", entry.label),
                  previousFailures + 1
                )
              }
              const gone = entry === undefined || !(yield* fs.exists(entry.opHeadsPath).pipe(
                Effect.orElseSucceed(() => false)
              ))
              if (gone) {
                yield* forget(id)
                return false
              }
              yield* Effect.logWarning(`sync of ${entry.label} failed`, cause)
              return true
            })
        })
    })

    /** Reads the op heads and asks for a sync when they differ from what was last synced. */
    const catchUp = (entry: Watched, lastSyncedOperationId: string | null) =>
      fs.readDirectory(entry.opHeadsPath).pipe(
        Effect.flatMap((heads) =>
          heads.length === 1 && heads[0] === lastSyncedOperationId ? Effect.void : scheduler.notify(entry.id)
        ),
        Effect.catchAll(() => vanish(entry.id))
      )

    const watch = (repository: Repository, location: RepositoryLocation) =>
      Effect.gen(function*() {
        const native = config.fsEvents && (yield* repoEvents.add(repository.id, location.opHeadsPath))
        const mtime = yield* fs.stat(location.opHeadsPath).pipe(
          Effect.map((info) => Option.getOrUndefined(Option.map(info.mtime, (date) => date.getTime()))),
          Effect.orElseSucceed(() => undefined)
        )
        const entry: Watched = {
          id: repository.id,
          label: `${repository.owner}/${repository.name}`,
          root: location.workspaceRoot,
          opHeadsPath: location.opHeadsPath,
          mtime,
          native
        }
        watched.set(repository.id, entry)
        if (!native) polledOnly.add(entry)
        vanishedReported.delete(repository.id)
        yield* catchUp(entry, repository.lastSyncedOperationId)
      })

    const isName = Schema.is(RepositoryName)
    const listDirectories = (directory: string) =>
      fs.readDirectory(directory).pipe(Effect.orElseSucceed((): Array<string> => []))

    /**
     * Brings the watched set in line with the disk and the watch list: new `<owner>/<repo>` directories holding a
     * `.jj` get a row and are watched; rows marked watched are watched at their path; the rest is dropped.
     */
    const scan = Effect.gen(function*() {
      const known = new Set([...watched.values()].map((entry) => entry.root))
      const realBase = yield* fs.realPath(basePath).pipe(Effect.orElseSucceed(() => basePath))
      if (config.fsEvents) yield* directoryEvents.add(basePath, basePath)
      const found: Array<{ owner: RepositoryName; name: RepositoryName; path: string }> = []
      for (const owner of (yield* listDirectories(basePath)).filter(isName)) {
        const ownerPath = path.join(basePath, owner)
        if (config.fsEvents) yield* directoryEvents.add(ownerPath, ownerPath)
        for (const name of (yield* listDirectories(ownerPath)).filter(isName)) {
          const repoPath = path.join(ownerPath, name)
          if (known.has(repoPath)) continue
          if (!(yield* fs.exists(path.join(repoPath, ".jj")).pipe(Effect.orElseSucceed(() => false)))) continue
          // Symlinks may not lead discovery out of the base directory.
          const real = yield* fs.realPath(repoPath).pipe(Effect.orElseSucceed(() => ""))
          if (real.startsWith(realBase + path.sep)) found.push({ owner, name, path: repoPath })
        }
      }
      yield* repositories.ensureMany(found)
      const wantedIds = new Set(yield* repositories.watchedIds)
      for (const [id, entry] of watched) {
        if (!wantedIds.has(id)) {
          yield* unwatch(entry)
          yield* scheduler.cancel(id)
        }
      }
      // In chunks, so that starting on tens of thousands of repositories keeps a low memory high-water mark.
      const missing = [...wantedIds].filter((id) => !watched.has(id))
      for (let start = 0; start < missing.length; start += 500) {
        for (const repository of yield* repositories.findByIds(missing.slice(start, start + 500))) {
          const location = yield* jj.locate(repository.path).pipe(Effect.option)
          if (Option.isSome(location)) {
            yield* watch(repository, location.value)
            yield* Effect.logDebug(`watching ${repository.owner}/${repository.name} at ${location.value.workspaceRoot}`)
          } else if (!vanishedReported.has(repository.id)) {
            vanishedReported.add(repository.id)
            yield* Effect.logWarning(
              `not watching ${repository.owner}/${repository.name}: no jj repository at ${repository.path}`
            )
          }
        }
      }
    }).pipe(Effect.withSpan("Watcher.scan"))

    /** Ids whose op-heads directory changed since the last look; vanished ones are dropped. */
    const poll = (which: "polled" | "native"): Effect.Effect<Array<RepositoryId>> =>
      Effect.gen(function*() {
        const changed: Array<RepositoryId> = []
        const entries = which === "polled" ? polledOnly : watched.values()
        // One at a time: a sweep is rare (or small) and sequential stats cost no fiber each.
        yield* Effect.forEach(entries, (entry) =>
          fs.stat(entry.opHeadsPath).pipe(
            Effect.flatMap((info) =>
              Effect.sync(() => {
                const mtime = Option.getOrUndefined(Option.map(info.mtime, (date) => date.getTime()))
                if (mtime !== entry.mtime) {
                  entry.mtime = mtime
                  changed.push(entry.id)
                }
              })
            ),
            Effect.catchAll(() => vanish(entry.id))
          ), { discard: true })
        return changed
      })

    const polling = (which: "polled" | "native", interval: Duration.Duration) =>
      Stream.fromSchedule(Schedule.spaced(interval)).pipe(
        Stream.mapConcatEffect(() => which === "polled" && polledOnly.size === 0 ? Effect.succeed([]) : poll(which))
      )

    /**
     * Watched repositories due for their periodic full comparison with jj (`SYNC_RECONCILE_INTERVAL`), looked up at
     * most every minute; the sync they get is a reconciliation.
     */
    const reconcileInterval = Duration.toMillis(syncConfig.reconcileInterval)
    const reconciliations: Stream.Stream<RepositoryId> = reconcileInterval === 0 ? Stream.empty : Stream.fromSchedule(
      Schedule.spaced(Duration.millis(Math.min(reconcileInterval, 60_000)))
    ).pipe(
      Stream.mapConcatEffect(() =>
        repositories.dueForReconciliation(syncConfig.reconcileInterval).pipe(
          Effect.map((ids) => ids.filter((id) => watched.has(id))),
          Effect.catchAllCause((cause) =>
            Effect.as(Effect.logWarning("looking up repositories due for reconciliation failed", cause), [])
          )
        )
      )
    )

    /** Every change notice for every watched repository, native and polled. */
    const detection: Stream.Stream<RepositoryId> = Stream.mergeAll([
      repoEvents.events,
      reconciliations,
      polling("polled", config.pollInterval),
      polling("native", config.safetyPollInterval)
    ], { concurrency: "unbounded" })

    const rescans = Stream.merge(
      directoryEvents.events.pipe(Stream.debounce(Duration.millis(50))),
      Stream.fromSchedule(Schedule.spaced(config.scanInterval))
    )

    const running = config.enabled
    let stopping = false
    if (running) {
      yield* scan
      yield* Effect.logInfo(
        `watching ${watched.size} repositories (base ${basePath}, native events ${config.fsEvents ? "on" : "off"}, ` +
          `poll ${Duration.format(config.pollInterval)}, concurrency ${config.concurrency})`
      )
      yield* detection.pipe(Stream.runForEach(scheduler.notify), Effect.forkScoped)
      yield* rescans.pipe(
        Stream.runForEach(() => scan.pipe(Effect.catchAllCause((cause) => Effect.logWarning("scan failed", cause)))),
        Effect.forkScoped
      )
      // Runs first on shutdown: no new syncs, in-flight ones get a bounded time to commit.
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => (stopping = true)).pipe(
          Effect.zipRight(scheduler.shutdown(config.shutdownTimeout)),
          Effect.flatMap((finished) =>
            finished
              ? Effect.logInfo("watcher stopped")
              : Effect.logWarning("watcher stopped with syncs still running; they were rolled back")
          )
        )
      )
    }

    const status = Effect.gen(function*() {
      const stats = yield* scheduler.stats
      return new WatcherStatus({
        enabled: config.enabled,
        running: running && !stopping,
        watchedRepos: watched.size,
        nativeEvents: config.fsEvents,
        nativelyWatched: yield* repoEvents.size,
        inFlight: stats.inFlight,
        queued: stats.queued,
        syncsSucceeded,
        syncsFailed
      })
    }).pipe(Effect.withSpan("Watcher.status"))

    /**
     * `<base>/<user>/<repo>` resolved through symlinks; fails unless it exists and stays inside the base directory.
     */
    const resolveUnderBase = (user: RepositoryName, repo: RepositoryName) =>
      Effect.gen(function*() {
        const candidate = path.join(basePath, user, repo)
        const real = yield* fs.realPath(candidate).pipe(
          Effect.mapError(() => new RepositoryPathNotFound({ path: candidate }))
        )
        const realBase = yield* fs.realPath(basePath).pipe(
          Effect.mapError(() => new RepositoryPathNotFound({ path: basePath }))
        )
        if (!real.startsWith(realBase + path.sep)) {
          return yield* new PathOutsideBase({ path: candidate })
        }
        return real
      }).pipe(Effect.withSpan("Watcher.resolveUnderBase", { attributes: { user, repo } }))

    /** Puts a repository row on the watch list and starts watching it now. */
    const watchRepository = (repository: Repository) =>
      Effect.gen(function*() {
        yield* repositories.setWatched(repository.id, true)
        if (!running || watched.has(repository.id)) return
        const location = yield* jj.locate(repository.path)
        yield* watch(repository, location)
      }).pipe(Effect.withSpan("Watcher.watchRepository", { attributes: { id: repository.id } }))

    /** Takes a repository off the watch list; its rows stay. */
    const unwatchRepository = (id: RepositoryId) =>
      Effect.gen(function*() {
        yield* repositories.setWatched(id, false)
        const entry = watched.get(id)
        if (entry !== undefined) yield* unwatch(entry)
        yield* scheduler.cancel(id)
      }).pipe(Effect.withSpan("Watcher.unwatchRepository", { attributes: { id } }))

    return {
      basePath,
      status,
      resolveUnderBase,
      watchRepository,
      unwatchRepository,
      awaitIdle: scheduler.awaitIdle,
      isWatched: (id: RepositoryId) => Effect.sync(() => watched.has(id))
    } as const
  }),
  dependencies: [JjClient.Default, Repositories.Default, SyncService.Default]
}) {}
