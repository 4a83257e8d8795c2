import { HttpApiBuilder } from "@effect/platform"
import type { HttpApi, HttpApiGroup } from "@effect/platform"
import { Clock, Config, Duration, Effect, Fiber, FiberSet, Option } from "effect"
import { WatcherApi } from "../Api.js"
import type { Repository, RepositoryName } from "../Domain/Repository.js"
import { JjClient } from "../JjClient.js"
import { Repositories } from "../Repositories.js"
import { SyncService } from "../Sync.js"
import { SyncRepo } from "../Sync/Repo.js"
import { version } from "../Version.js"
import { Watcher } from "../Watcher.js"
import {
  PathRejected,
  RepoDetail,
  RepoNotFound,
  ReposPage,
  RepoSummary,
  SyncFailed,
  SyncStillRunning,
  UnwatchResult,
  WatcherStatusResponse
} from "./Api.js"
import type { WatcherApiGroup } from "./Api.js"

export const ApiConfig = Config.all({
  /** How long `POST /sync` waits for its sync before answering 504 (the sync goes on). */
  syncWait: Config.integer("API_SYNC_WAIT_MS").pipe(Config.withDefault(30_000), Config.map(Duration.millis))
})

const message = (error: { readonly message: string }) => error.message

/**
 * Handlers of the watcher group for any HttpApi that includes `WatcherApiGroup`: jj-watcher's own, or the API of an
 * application that embeds the watcher.
 */
export const watcherHandlers = <ApiId extends string, Groups extends HttpApiGroup.HttpApiGroup.Any, E, R>(
  api: HttpApi.HttpApi<ApiId, Groups | typeof WatcherApiGroup, E, R>
) =>
  // The group is narrowed to the one handled here; the API's other groups are the host's business.
  HttpApiBuilder.group(api as HttpApi.HttpApi<ApiId, typeof WatcherApiGroup, E, R>, "watcher", (handlers) =>
  Effect.gen(function*() {
    const config = yield* ApiConfig
    const watcher = yield* Watcher
    const repositories = yield* Repositories
    const syncRepo = yield* SyncRepo
    const sync = yield* SyncService
    const jj = yield* JjClient
    const startedAt = yield* Clock.currentTimeMillis
    // Syncs asked for over HTTP finish even when the answer has already gone out (504 after the bounded wait).
    const syncs = yield* FiberSet.make()

    const summary = (repository: Repository) =>
      Effect.map(watcher.isWatched(repository.id), (watching) =>
        new RepoSummary({
          user: repository.owner,
          repo: repository.name,
          repoId: repository.id,
          path: repository.path,
          watched: repository.watched,
          watching,
          lastSyncedOperationId: repository.lastSyncedOperationId,
          lastSyncedAt: repository.lastSyncedAt,
          lastError: repository.lastError,
          consecutiveFailures: repository.consecutiveFailures
        }))

    const notFound = (user: string, repo: string, why = "no such repository") =>
      new RepoNotFound({ user, repo, message: `${user}/${repo}: ${why}` })

    const findRow = (user: string, repo: string) =>
      repositories.findByName(user, repo).pipe(
        Effect.flatMap(Option.match({ onNone: () => Effect.fail(notFound(user, repo)), onSome: Effect.succeed }))
      )

    /** The jj repository at `<base>/<user>/<repo>`, refusing paths that leave the base. */
    const locateUnderBase = (user: RepositoryName, repo: RepositoryName) =>
      watcher.resolveUnderBase(user, repo).pipe(
        Effect.flatMap(jj.locate),
        Effect.catchTags({
          RepositoryPathNotFound: () => Effect.fail(notFound(user, repo, "no jj repository under the base directory")),
          NotAJjRepository: (error) => Effect.fail(notFound(user, repo, error.reason)),
          PathOutsideBase: (error) => Effect.fail(new PathRejected({ message: error.message }))
        })
      )

    return handlers
      .handle("status", () =>
        Effect.gen(function*() {
          const status = yield* watcher.status
          const now = yield* Clock.currentTimeMillis
          return new WatcherStatusResponse({
            running: status.running,
            watchedRepos: status.watchedRepos,
            version,
            uptimeSeconds: Math.round((now - startedAt) / 1000),
            syncsSucceeded: status.syncsSucceeded,
            syncsFailed: status.syncsFailed,
            inFlight: status.inFlight,
            queueDepth: status.queued,
            nativeEvents: status.nativeEvents,
            nativelyWatched: status.nativelyWatched
          })
        }))
      .handle("listRepos", ({ urlParams }) =>
        Effect.gen(function*() {
          const limit = urlParams.limit ?? 100
          const rows = yield* repositories.list(urlParams.cursor ?? 0, limit + 1)
          const page = rows.slice(0, limit)
          return new ReposPage({
            repos: yield* Effect.forEach(page, summary),
            nextCursor: rows.length > limit ? page.at(-1)!.id : null
          })
        }))
      .handle("getRepo", ({ path }) =>
        Effect.gen(function*() {
          const row = yield* findRow(path.user, path.repo)
          const base = yield* summary(row)
          return new RepoDetail({
            ...base,
            operationHeads: row.operationHeads,
            changesTruncated: row.changesTruncated,
            counts: yield* syncRepo.counts(row.id).pipe(Effect.orDie)
          })
        }))
      .handle("watch", ({ path }) =>
        Effect.gen(function*() {
          const location = yield* locateUnderBase(path.user, path.repo)
          const row = yield* repositories.ensure(path.user, path.repo, location.workspaceRoot)
          yield* watcher.watchRepository(row).pipe(
            Effect.catchAll((error) => Effect.fail(notFound(path.user, path.repo, error.message)))
          )
          return yield* summary(Option.getOrElse(yield* repositories.findById(row.id), () => row))
        }))
      .handle("unwatch", ({ path, urlParams }) =>
        Effect.gen(function*() {
          const row = yield* findRow(path.user, path.repo)
          yield* watcher.unwatchRepository(row.id)
          const purged = urlParams.purge === true
          if (purged) yield* repositories.purgeMirror(row.id)
          return new UnwatchResult({ user: row.owner, repo: row.name, watched: false, purged })
        }))
      .handle("sync", ({ path, urlParams }) =>
        Effect.gen(function*() {
          // Only repositories under the base directory, whatever rows exist: the path is checked every time.
          const location = yield* locateUnderBase(path.user, path.repo)
          const existing = yield* repositories.findByName(path.user, path.repo)
          const run = Effect.gen(function*() {
            if (Option.isSome(existing) && existing.value.path === location.workspaceRoot) {
              return yield* sync.syncById(existing.value.id, { full: urlParams.full })
            }
            return yield* sync.syncPath({
              path: location.workspaceRoot,
              owner: path.user,
              name: path.repo,
              full: urlParams.full
            })
          })
          const fiber = yield* FiberSet.run(syncs, run)
          return yield* Fiber.join(fiber).pipe(
            Effect.timeoutFail({
              duration: config.syncWait,
              onTimeout: () =>
                new SyncStillRunning({
                  message: `sync of ${path.user}/${path.repo} still running after ${Duration.format(config.syncWait)}`
                })
            }),
            Effect.catchTags({
              RepositoryPathNotFound: (error) => Effect.fail(notFound(path.user, path.repo, error.message)),
              NotAJjRepository: (error) => Effect.fail(notFound(path.user, path.repo, error.message)),
              RepositoryNotFound: (error) => Effect.fail(notFound(path.user, path.repo, error.message)),
              InvalidRepositoryName: (error) => Effect.fail(new PathRejected({ message: error.message })),
              JjUnavailable: (error) => Effect.fail(new SyncFailed({ message: message(error) })),
              JjCommandFailed: (error) => Effect.fail(new SyncFailed({ message: message(error) })),
              JjOutputInvalid: (error) => Effect.fail(new SyncFailed({ message: message(error) })),
              JjTimeout: (error) => Effect.fail(new SyncFailed({ message: message(error) })),
              SqlError: (error) => Effect.fail(new SyncFailed({ message: message(error) })),
              SyncTimeout: (error) => Effect.fail(new SyncFailed({ message: message(error) }))
            })
          )
        }))
  }))

export const WatcherHttpLive = watcherHandlers(WatcherApi)
