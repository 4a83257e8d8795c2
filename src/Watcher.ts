import * as FileSystem from "@effect/platform/FileSystem"
import { SqlClient } from "@effect/sql"
import { Cause, Clock, Duration, Effect, Exit, Fiber, FiberSet, Metric, Option, Schema, Stream } from "effect"
import os from "node:os"
import { DetailsFill } from "./DetailsFill.js"
import type { DetailsError } from "./DetailsFill.js"
import type { DetailsFilled, DetailsProgress } from "./Domain/CommitDetails.js"
import { DependencyDown } from "./Domain/Dependency.js"
import type { RepositoryId } from "./Domain/Ids.js"
import type { RepositoryLocation } from "./Domain/Jj.js"
import { LeaseLost } from "./Domain/Lease.js"
import { repositoryVanished } from "./Domain/Repository.js"
import type { KindCounts, Repository, RepositoryName } from "./Domain/Repository.js"
import { SyncWaitExceeded } from "./Domain/Sync.js"
import type { SyncResult } from "./Domain/Sync.js"
import { JjClient } from "./JjClient.js"
import { makeLeases } from "./Leases.js"
import { LeaseStore } from "./Leases/Store.js"
import type { Claimed } from "./Leases/Store.js"
import * as Metrics from "./Metrics.js"
import { Repositories } from "./Repositories.js"
import { SyncService } from "./Sync.js"
import { SyncConfig } from "./Sync/Config.js"
import { headsSynced } from "./Sync/Plan.js"
import { detailsProgressLine, logProgressEvery, progressLine } from "./Sync/Progress.js"
import { WatcherConfig } from "./Watcher/Config.js"
import { makeDependencies } from "./Watcher/Dependencies.js"
import { makeDetailsFills } from "./Watcher/DetailsFills.js"
import { makeDetection } from "./Watcher/Detection.js"
import type { Watched } from "./Watcher/Detection.js"
import { Discovery, isInside } from "./Watcher/Discovery.js"
import { makeForwarding } from "./Watcher/Forwarding.js"
import { makeScheduler } from "./Watcher/Scheduler.js"
import type { Scheduler } from "./Watcher/Scheduler.js"

/** A committed sync as one log line: repository, operation, how it read, what it wrote, how long it took. */
export const syncedLine = (result: SyncResult) => {
  const written = Object.entries(result.written).filter(([, n]) => n > 0).map(([kind, n]) => `${kind} ${n}`)
  return `synced ${result.owner}/${result.name} at ${result.operationId.slice(0, 12)} (${result.mode}${
    result.fullReason === null ? "" : `: ${result.fullReason}`
  }), wrote ${written.length === 0 ? "nothing" : written.join(", ")} in ${result.durationMs} ms`
}

/** A failure's first line: its message, or the defect's. */
const failureLine = (cause: Cause.Cause<unknown>) => {
  const error = Cause.squash(cause)
  const message = error instanceof Error && error.message !== "" ? error.message : String(error)
  return message.split("\n")[0] ?? ""
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
  syncsFailed: Schema.Number,
  /** Dependencies that do not answer: syncing is paused until they do. */
  dependenciesDown: Schema.Array(DependencyDown),
  /** This process among the instances sharing the database (`WATCHER_INSTANCE_ID`). */
  instanceId: Schema.String,
  /** Repositories whose lease this instance holds: the ones it syncs. */
  leases: Schema.Number,
  /** Live instances sharing the database, this one included (as of its last renewal). */
  instances: Schema.Number
}) {}

/**
 * Keeps the mirror of every watched repository current: the jj repositories under `REPOS_BASE_PATH/<owner>/<repo>`
 * (see `Watcher/Discovery.ts`) plus the persisted watch list (`repositories.watched`). Detection (see
 * `Watcher/Detection.ts`) is one Stream of repository ids; the scheduler turns it into syncs.
 */
export class Watcher extends Effect.Service<Watcher>()("jj-watcher/Watcher", {
  scoped: Effect.gen(function*() {
    const config = yield* WatcherConfig
    const syncConfig = yield* SyncConfig
    const fs = yield* FileSystem.FileSystem
    const jj = yield* JjClient
    const repositories = yield* Repositories
    const sync = yield* SyncService
    const discovery = yield* Discovery
    const sql = yield* SqlClient.SqlClient
    const details = yield* DetailsFill
    // A watcher without a usable jj would only collect failures: refuse to start instead.
    if (config.enabled) yield* jj.checkVersion

    const vanishedReported = new Set<RepositoryId>()
    let syncsSucceeded = 0
    let syncsFailed = 0

    const detection = yield* makeDetection({
      config,
      reconcileInterval: syncConfig.reconcileInterval,
      dueForReconciliation: repositories.dueForReconciliation,
      onVanished: (id) => vanish(id)
    })

    /**
     * Stops watching a repository whose directory is gone; its rows stay. Reported once. The caller stops its
     * scheduled work (from inside a sync's outcome, by dropping the key).
     */
    const forget = (id: RepositoryId): Effect.Effect<void> =>
      Effect.gen(function*() {
        const entry = detection.get(id)
        if (entry === undefined) return
        yield* detection.remove(id)
        yield* leases.wake
        if (!vanishedReported.has(id)) {
          vanishedReported.add(id)
          yield* Effect.logWarning(`stopped watching ${entry.label}: ${entry.root} vanished`)
          yield* repositories.recordFailure(id, repositoryVanished(entry.root)).pipe(Effect.ignore)
        }
      })

    const vanish = (id: RepositoryId) => Effect.zipRight(forget(id), scheduler.cancel(id))

    const failureGauge = (entry: Watched) => Metric.tagged(Metrics.repositoryFailures, "repository", entry.label)

    const dependencies = yield* makeDependencies({
      probes: {
        database: sql`SELECT 1`.pipe(
          Effect.timeoutFail({ duration: "2 seconds", onTimeout: () => "no answer in 2 s" })
        ),
        jj: jj.checkVersion.pipe(Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => "no answer in 5 s" }))
      },
      probeInterval: config.probeInterval
    })

    const labelOf = (id: RepositoryId) => detection.get(id)?.label ?? `repository ${id}`

    const noneFilled: DetailsFilled = { commits: 0, files: 0, predecessors: 0, durationMs: 0 }

    /** A fill that fails because the database or jj stopped answering waits for them, then goes on. */
    const fillWaitingOutOutages = (
      id: RepositoryId,
      onProgress: (progress: DetailsProgress) => Effect.Effect<void>
    ): Effect.Effect<DetailsFilled, DetailsError> =>
      dependencies.available.pipe(
        Effect.zipRight(Effect.suspend(() => {
          const lease = leases.leaseOf(id)
          // Another instance owns the repository now: its fill is that instance's.
          return lease === undefined ? Effect.succeed(noneFilled) : details.fill(id, onProgress, lease)
        })),
        Effect.catchAll((error) =>
          Effect.flatMap(
            dependencies.explainsFailure,
            (outage) => outage ? fillWaitingOutOutages(id, onProgress) : Effect.fail(error)
          )
        )
      )

    // The details (files, predecessors) of the commits a sync brought are read after it committed, in the
    // background: a large first import's line counts never hold back the next syncs.
    const fills = yield* makeDetailsFills<RepositoryId, unknown>({
      concurrency: Math.max(1, Math.floor(config.concurrency / 2)),
      delay: config.detailsDelay,
      // The mirror's commits first: syncs waiting for their turn run before a fill starts.
      giveWay: { until: Effect.suspend(() => scheduler.noneWaiting), maxDefer: config.detailsMaxDefer },
      fill: (id) =>
        Effect.gen(function*() {
          const interval = Duration.toMillis(config.progressInterval)
          const onProgress = yield* logProgressEvery(
            interval,
            (progress: DetailsProgress, elapsedMs) => detailsProgressLine(labelOf(id), progress, elapsedMs)
          )
          const filled = yield* fillWaitingOutOutages(id, onProgress)
          if (filled.commits === 0) return
          const line = `read files and predecessors of ${filled.commits} commits of ${
            labelOf(id)
          } (files ${filled.files}, predecessors ${filled.predecessors}) in ${filled.durationMs} ms`
          yield* filled.durationMs >= interval ? Effect.logInfo(line) : Effect.logDebug(line)
        }),
      onFailure: (id, cause) =>
        Effect.gen(function*() {
          if (Cause.squash(cause) instanceof LeaseLost) {
            return yield* Effect.logInfo(`${labelOf(id)} is owned by another instance now; it reads the details`)
          }
          yield* Effect.logWarning(`reading files and predecessors of ${labelOf(id)} failed: ${failureLine(cause)}`)
          yield* Effect.logDebug(`reading files and predecessors of ${labelOf(id)} failed`, cause)
        })
    })

    const scheduler: Scheduler<RepositoryId> = yield* makeScheduler<RepositoryId, unknown, SyncResult>({
      debounce: config.debounce,
      maxWait: config.maxWait,
      leading: config.leadingEdge,
      concurrency: config.concurrency,
      retryBase: config.retryBase,
      retryMax: config.retryMax,
      available: dependencies.available,
      environmentFailed: dependencies.explainsFailure,
      // A long sync (a first import) says how far it got in the log.
      sync: (id) =>
        Effect.flatMap(
          logProgressEvery(
            Duration.toMillis(config.progressInterval),
            (staged: KindCounts, elapsedMs) => progressLine(labelOf(id), staged, elapsedMs)
          ),
          (onProgress) => {
            const lease = leases.leaseOf(id)
            return lease === undefined
              ? Effect.fail(new LeaseLost({ repositoryId: id, owner: config.instanceId, epoch: 0 }))
              : sync.syncById(id, { onProgress, lease })
          }
        ),
      onResult: (id, exit, { pendingSince, previousFailures }) =>
        Exit.match(exit, {
          onSuccess: (result) =>
            Effect.gen(function*() {
              syncsSucceeded++
              const entry = detection.get(id)
              if (entry !== undefined && previousFailures > 0) yield* Metric.set(failureGauge(entry), 0)
              if (!result.upToDate) {
                const now = yield* Clock.currentTimeMillis
                yield* Metric.update(Metrics.changeToDatabase, Math.max(0, now - pendingSince) / 1000)
                yield* Effect.logInfo(syncedLine(result))
                // Only a sync that wrote commits can have queued details to read.
                if (result.written.changes > 0) yield* fills.request(id)
              }
              return true
            }),
          onFailure: (cause) =>
            Effect.gen(function*() {
              // Another instance claimed the repository meanwhile: nothing was written, and it is not ours to retry.
              if (Cause.squash(cause) instanceof LeaseLost) {
                yield* Effect.logInfo(`${labelOf(id)} is owned by another instance now; its sync was rolled back`)
                return false
              }
              syncsFailed++
              const entry = detection.get(id)
              if (entry !== undefined) yield* Metric.set(failureGauge(entry), previousFailures + 1)
              const gone = entry === undefined ||
                !(yield* fs.exists(entry.opHeadsPath).pipe(Effect.orElseSucceed(() => false)))
              if (gone) {
                yield* forget(id)
                return false
              }
              // One line; the whole cause (with its trace) at debug level.
              yield* Effect.logWarning(`sync of ${entry.label} failed: ${failureLine(cause)}`)
              yield* Effect.logDebug(`sync of ${entry.label} failed`, cause)
              return true
            })
        })
    })

    /** Reads the op heads and asks for a sync when they differ from what was last synced. */
    const catchUp = (entry: Watched, lastSyncedOperationId: string | null): Effect.Effect<void> =>
      fs.readDirectory(entry.opHeadsPath).pipe(
        Effect.flatMap((heads) => headsSynced(heads, lastSyncedOperationId) ? Effect.void : notifyOwned(entry.id)),
        Effect.catchAll(() => vanish(entry.id))
      )

    /** A detected change is synced here only when this instance holds the repository's lease. */
    const notifyOwned = (id: RepositoryId): Effect.Effect<void> => leases.holds(id) ? scheduler.notify(id) : Effect.void

    // Syncs asked for by a caller that waits a bounded time finish even when the caller has stopped waiting.
    const requestedSyncs = yield* FiberSet.make()
    const peersChannel = `${syncConfig.notifyChannel}_instances`

    /**
     * The watched repositories this instance may claim: those under its base directory, and those on the watch list
     * that lie under no other live instance's base (another storage host's repositories are that host's, even where
     * a shared mount shows them here too).
     */
    const visibleAmong = (otherBases: ReadonlyArray<string>) => {
      const base = discovery.basePath
      const others = otherBases.filter((other) => other !== base && !isInside(other, base) && !isInside(base, other))
      return [...detection.entries()]
        .filter(([, { root }]) => isInside(base, root) || !others.some((other) => isInside(other, root)))
        .map(([id]) => id)
    }

    // Which repositories this instance syncs among the instances sharing the database (see `Leases.ts`). A claimed
    // repository is caught up at once; a lost one's sync is stopped (its transaction rolls back).
    const leases = yield* makeLeases({
      instance: { id: config.instanceId, host: os.hostname(), basePath: discovery.basePath },
      ttl: config.leaseTtl,
      renewInterval: config.leaseRenewInterval,
      channel: peersChannel,
      visible: visibleAmong,
      busy: scheduler.isActive,
      onClaimed: (claimed: ReadonlyArray<Claimed>) =>
        Effect.gen(function*() {
          for (const lease of claimed) {
            const entry = detection.get(lease.id)
            if (entry === undefined) continue
            yield* catchUp(entry, lease.lastSyncedOperationId)
            if (!lease.filesComplete && lease.lastSyncedOperationId !== null) yield* fills.request(lease.id)
            if (lease.previousOwner !== null && lease.previousOwner !== config.instanceId) {
              yield* Effect.logInfo(`took over ${entry.label} from ${lease.previousOwner}`)
            }
          }
          yield* Effect.logDebug(`claimed ${claimed.length} ${claimed.length === 1 ? "lease" : "leases"}`)
        }),
      onLost: (ids, how) =>
        Effect.gen(function*() {
          for (const id of ids) yield* scheduler.cancel(id)
          const line = `${how === "released" ? "gave back" : "lost to another instance"} ${ids.length} ${
            ids.length === 1 ? "lease" : "leases"
          }`
          yield* how === "released" ? Effect.logDebug(line) : Effect.logWarning(line)
        }),
      onRequests: Effect.suspend((): Effect.Effect<void> => forwarding.runRequests),
      claiming: config.enabled
    })

    // Manual syncs between instances: those asked here of a repository another instance holds, and those asked
    // elsewhere of one this instance holds.
    const forwarding = yield* makeForwarding({
      instanceId: config.instanceId,
      channel: peersChannel,
      leases,
      sync: (id, options) => sync.syncById(id, options),
      runInBackground: (effect) => Effect.asVoid(FiberSet.run(requestedSyncs, effect))
    })

    const watch = (repository: Repository, location: RepositoryLocation) =>
      Effect.gen(function*() {
        const entry = yield* detection.add(repository, location)
        vanishedReported.delete(repository.id)
        if (leases.holds(repository.id)) yield* catchUp(entry, repository.lastSyncedOperationId)
      })

    /**
     * Brings the watched set in line with the disk and the watch list: new `<owner>/<repo>` directories holding a
     * `.jj` get a row and are watched; rows marked watched are watched at their path; the rest is dropped.
     */
    const scan = Effect.gen(function*() {
      const { directories, found } = yield* discovery.scan(detection.roots())
      yield* detection.watchDirectories(directories)
      yield* repositories.ensureMany(found)
      const wantedIds = new Set(yield* repositories.watchedIds)
      for (const [id] of [...detection.entries()]) {
        if (!wantedIds.has(id)) {
          yield* detection.remove(id)
          yield* scheduler.cancel(id)
        }
      }
      // In chunks, so that starting on tens of thousands of repositories keeps a low memory high-water mark.
      const missing = [...wantedIds].filter((id) => detection.get(id) === undefined)
      for (let start = 0; start < missing.length; start += 500) {
        // Locating is file-system work: several at once keep the file system busy instead of waiting on each.
        const located = yield* Effect.forEach(
          yield* repositories.findByIds(missing.slice(start, start + 500)),
          (repository) =>
            Effect.map(Effect.option(jj.locate(repository.path)), (location) => ({ repository, location })),
          { concurrency: 16 }
        )
        for (const { location, repository } of located) {
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
      // What this instance sees decides what it may claim: claims (and catch-ups) happen here.
      yield* leases.round
    }).pipe(Effect.withSpan("Watcher.scan"))

    const running = config.enabled
    let stopping = false
    if (running) {
      yield* scan
      yield* Effect.logInfo(
        `watching ${detection.size()} ${
          detection.size() === 1 ? "repository" : "repositories"
        } (base ${discovery.basePath}, native events ${config.fsEvents ? "on" : "off"}, poll ${
          Duration.format(config.pollInterval)
        }, concurrency ${config.concurrency})`
      )
      // Fills a previous run left unfinished are requested as their leases are claimed.
      yield* detection.events.pipe(Stream.runForEach(notifyOwned), Effect.forkScoped)
      // Scans need the database too: they wait out an outage, which is logged once, not at every scan.
      yield* detection.rescans.pipe(
        Stream.runForEach(() =>
          dependencies.available.pipe(
            Effect.zipRight(scan),
            Effect.catchAllCause((cause) =>
              Effect.flatMap(
                dependencies.explainsFailure,
                (outage) => outage ? Effect.void : Effect.logWarning("scan failed", cause)
              )
            )
          )
        ),
        Effect.forkScoped
      )
      // Runs first on shutdown: no new syncs, in-flight ones get a bounded time to commit.
      // Then the leases are given back, and peers claim them at once.
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => (stopping = true)).pipe(
          Effect.zipRight(scheduler.shutdown(config.shutdownTimeout)),
          Effect.flatMap((finished) =>
            finished
              ? Effect.logInfo("watcher stopped")
              : Effect.logWarning("watcher stopped with syncs still running; they were rolled back")
          ),
          Effect.zipRight(leases.retire)
        )
      )
    }

    const status = Effect.gen(function*() {
      const stats = yield* scheduler.stats
      return new WatcherStatus({
        enabled: config.enabled,
        running: running && !stopping,
        watchedRepos: detection.size(),
        nativeEvents: config.fsEvents,
        nativelyWatched: yield* detection.nativelyWatched,
        inFlight: stats.inFlight,
        queued: stats.queued,
        syncsSucceeded,
        syncsFailed,
        dependenciesDown: yield* dependencies.down,
        instanceId: config.instanceId,
        leases: leases.held(),
        instances: leases.instances()
      })
    }).pipe(Effect.withSpan("Watcher.status"))

    const isWatched = (id: RepositoryId) => Effect.sync(() => detection.get(id) !== undefined)
    const withWatching = (repository: Repository) => ({
      repository,
      watching: detection.get(repository.id) !== undefined
    })

    /** A page of repository rows in id order after `afterId`, each saying whether this process watches it. */
    const repositoryPage = Effect.fn("Watcher.repositoryPage")(function*(afterId: number, limit: number) {
      const rows = yield* repositories.list(afterId, limit + 1)
      const page = rows.slice(0, limit)
      return { entries: page.map(withWatching), nextCursor: rows.length > limit ? page.at(-1)!.id : null }
    })

    /** A repository's row, whether this process watches it, and the rows its mirror holds. */
    const repositoryDetail = Effect.fn("Watcher.repositoryDetail")(function*(user: string, repo: string) {
      const row = yield* repositories.getByName(user, repo)
      const [counts, held] = yield* Effect.all([repositories.counts(row.id), details.counts(row.id)], {
        concurrency: 2
      })
      return {
        ...withWatching(row),
        counts,
        details: {
          files: held.files,
          predecessors: held.predecessors,
          pendingCommits: held.pending,
          complete: held.pending === 0
        }
      }
    })

    /** The jj repository at `<base>/<user>/<repo>`, refusing paths that leave the base. */
    const locateUnderBase = (user: RepositoryName, repo: RepositoryName) =>
      Effect.flatMap(discovery.resolveUnderBase(user, repo), jj.locate)

    /** Puts a repository row on the watch list and starts watching it now. */
    const watchRepository = Effect.fn("Watcher.watchRepository")(function*(repository: Repository) {
      yield* Effect.annotateCurrentSpan("id", repository.id)
      yield* repositories.setWatched(repository.id, true)
      if (!running || detection.get(repository.id) !== undefined) return
      yield* watch(repository, yield* jj.locate(repository.path))
      yield* leases.round
    })

    /** Watches the jj repository at `<base>/<user>/<repo>`, creating its row; returns the row as it is now. */
    const watchUnderBase = Effect.fn("Watcher.watchUnderBase")(function*(user: RepositoryName, repo: RepositoryName) {
      const location = yield* locateUnderBase(user, repo)
      const row = yield* repositories.ensure(user, repo, location.workspaceRoot)
      yield* watchRepository(row)
      return withWatching(yield* repositories.getById(row.id))
    })

    /** Takes a repository off the watch list (its rows stay unless `purge`); returns its row. */
    const unwatch = Effect.fn("Watcher.unwatch")(function*(user: string, repo: string, purge: boolean) {
      yield* Effect.annotateCurrentSpan({ user, repo, purge })
      const row = yield* repositories.getByName(user, repo)
      yield* repositories.setWatched(row.id, false)
      yield* detection.remove(row.id)
      yield* scheduler.cancel(row.id)
      if (running) yield* leases.round
      if (purge) yield* repositories.purgeMirror(row.id)
      return row
    })

    /**
     * Syncs the jj repository at `<base>/<user>/<repo>` now, creating its row when needed, and waits for it at most
     * `wait`; the path is checked every time, whatever rows exist.
     */
    const syncUnderBase = Effect.fn("Watcher.syncUnderBase")(function*(
      user: RepositoryName,
      repo: RepositoryName,
      options: { readonly full?: boolean | undefined; readonly wait: Duration.Duration }
    ) {
      const location = yield* locateUnderBase(user, repo)
      const existing = yield* repositories.findByName(user, repo)
      const known = Option.isSome(existing) && existing.value.path === location.workspaceRoot
      if (known) {
        const forwarded = running && leases.holds(existing.value.id)
          ? Option.none()
          : yield* forwarding.forward(existing.value.id, `${user}/${repo}`, options.full === true, options.wait)
        if (Option.isSome(forwarded)) return forwarded.value
      }
      const run = Option.isSome(existing) && known
        ? sync.syncById(existing.value.id, { full: options.full, lease: leases.leaseOf(existing.value.id) })
        : sync.syncPath({ path: location.workspaceRoot, owner: user, name: repo, full: options.full })
      const fiber = yield* FiberSet.run(requestedSyncs, run)
      return yield* Fiber.join(fiber).pipe(
        Effect.timeoutFail({
          duration: options.wait,
          onTimeout: () =>
            new SyncWaitExceeded({ repository: `${user}/${repo}`, waitedMs: Duration.toMillis(options.wait) })
        })
      )
    })

    return {
      basePath: discovery.basePath,
      status,
      isWatched,
      repositoryPage,
      repositoryDetail,
      watchRepository,
      watchUnderBase,
      unwatch,
      syncUnderBase,
      awaitIdle: scheduler.awaitIdle
    } as const
  }),
  dependencies: [Discovery.Default, LeaseStore.Default]
}) {}
