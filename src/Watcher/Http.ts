import { HttpApiBuilder } from "@effect/platform"
import type { HttpApi, HttpApiGroup } from "@effect/platform"
import { Clock, Config, Duration, Effect } from "effect"
import { WatcherApi } from "../Api.js"
import type { Repository } from "../Domain/Repository.js"
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

/** Which API error each failure of the watcher's services becomes. */
type ApiError<E> = E extends { readonly _tag: "RepositoryRowNotFound" | "RepositoryPathNotFound" | "NotAJjRepository" }
  ? RepoNotFound
  : E extends { readonly _tag: "PathOutsideBase" | "InvalidRepositoryName" } ? PathRejected
  : E extends { readonly _tag: "SyncWaitExceeded" } ? SyncStillRunning
  : SyncFailed

/**
 * The effect with what the watcher's services fail with turned into the API's errors for the repository
 * `user/repo`. Database failures outside a sync are defects (500): only the sync endpoint declares them.
 */
const withApiErrors = <A, E extends { readonly _tag: string; readonly message: string }, R>(
  { repo, user }: { readonly user: string; readonly repo: string },
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, ApiError<E>, R> =>
  Effect.mapError(effect, (error) => {
    const notFound = (why: string) => new RepoNotFound({ user, repo, message: `${user}/${repo}: ${why}` })
    const mapped = (() => {
      switch (error._tag) {
        case "RepositoryRowNotFound":
          return notFound("no such repository")
        case "RepositoryPathNotFound":
          return notFound("no jj repository under the base directory")
        case "NotAJjRepository":
          return notFound("reason" in error && typeof error.reason === "string" ? error.reason : error.message)
        case "PathOutsideBase":
        case "InvalidRepositoryName":
          return new PathRejected({ message: error.message })
        case "SyncWaitExceeded":
          return new SyncStillRunning({ message: error.message })
        default:
          // jj failing or timing out, the database, the sync's own time limit.
          return new SyncFailed({ message: error.message })
      }
    })()
    return mapped as ApiError<E>
  })

const summary = ({ repository, watching }: { readonly repository: Repository; readonly watching: boolean }) =>
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
    consecutiveFailures: repository.consecutiveFailures,
    leaseOwner: repository.leaseOwner
  })

/**
 * Handlers of the watcher group for any HttpApi that includes `WatcherApiGroup`: jj-watcher's own, or the API of an
 * application that embeds the watcher. Each is one call to the services and the mapping of its errors.
 */
export const watcherHandlers = <ApiId extends string, Groups extends HttpApiGroup.HttpApiGroup.Any, E, R>(
  api: HttpApi.HttpApi<ApiId, Groups | typeof WatcherApiGroup, E, R>
) =>
  // The group is narrowed to the one handled here; the API's other groups are the host's business.
  HttpApiBuilder.group(api as HttpApi.HttpApi<ApiId, typeof WatcherApiGroup, E, R>, "watcher", (handlers) =>
    Effect.gen(function*() {
      const config = yield* ApiConfig
      const watcher = yield* Watcher
      const startedAt = yield* Clock.currentTimeMillis

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
              nativelyWatched: status.nativelyWatched,
              dependenciesDown: status.dependenciesDown,
              instanceId: status.instanceId,
              leases: status.leases,
              instances: status.instances
            })
          }))
        .handle("listRepos", ({ urlParams }) =>
          Effect.map(
            watcher.repositoryPage(urlParams.cursor ?? 0, urlParams.limit ?? 100),
            ({ entries, nextCursor }) =>
              new ReposPage({ repos: entries.map(summary), nextCursor })
          ).pipe(Effect.catchTag("SqlError", Effect.die)))
        .handle("getRepo", ({ path }) =>
          withApiErrors(
            path,
            Effect.map(watcher.repositoryDetail(path.user, path.repo), (detail) =>
              new RepoDetail({
                ...summary(detail),
                operationHeads: detail.repository.operationHeads,
                changesTruncated: detail.repository.changesTruncated,
                counts: detail.counts,
                details: detail.details
              })).pipe(Effect.catchTag("SqlError", Effect.die))
          ))
        .handle("watch", ({ path }) =>
          withApiErrors(
            path,
            Effect.map(watcher.watchUnderBase(path.user, path.repo), summary).pipe(
              Effect.catchTag("SqlError", Effect.die)
            )
          ))
        .handle("unwatch", ({ path, urlParams }) =>
          withApiErrors(
            path,
            Effect.map(watcher.unwatch(path.user, path.repo, urlParams.purge === true), (row) =>
              new UnwatchResult({ user: row.owner, repo: row.name, watched: false, purged: urlParams.purge === true }))
              .pipe(
                Effect.catchTag("SqlError", Effect.die)
              )
          ))
        .handle("sync", ({ path, urlParams }) =>
          withApiErrors(
            path,
            watcher.syncUnderBase(path.user, path.repo, { full: urlParams.full, wait: config.syncWait })
          ))
    }))

export const WatcherHttpLive = watcherHandlers(WatcherApi)
