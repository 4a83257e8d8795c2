import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"
import { AdminAccess, OwnerAccess } from "../Auth/Api.js"
import { DependencyDown } from "../Domain/Dependency.js"
import { OperationId, RepositoryId } from "../Domain/Ids.js"
import { KindCounts, RepositoryName } from "../Domain/Repository.js"
import { SyncResult } from "../Domain/Sync.js"

export const RepoPath = Schema.Struct({ user: RepositoryName, repo: RepositoryName })

export class WatcherStatusResponse extends Schema.Class<WatcherStatusResponse>("WatcherStatusResponse")({
  running: Schema.Boolean,
  watchedRepos: Schema.Number,
  version: Schema.String,
  uptimeSeconds: Schema.Number,
  syncsSucceeded: Schema.Number,
  syncsFailed: Schema.Number,
  inFlight: Schema.Number,
  queueDepth: Schema.Number,
  nativeEvents: Schema.Boolean,
  nativelyWatched: Schema.Number,
  /** The database or jj not answering: syncing is paused until they do. */
  dependenciesDown: Schema.Array(DependencyDown),
  /** This process among the instances sharing the database (`WATCHER_INSTANCE_ID`). */
  instanceId: Schema.String,
  /** Repositories whose lease this instance holds: the ones it syncs. */
  leases: Schema.Number,
  /** Live instances sharing the database, this one included. */
  instances: Schema.Number
}) {}

export class RepoSummary extends Schema.Class<RepoSummary>("RepoSummary")({
  user: Schema.String,
  repo: Schema.String,
  repoId: RepositoryId,
  path: Schema.String,
  /** On the persisted watch list. */
  watched: Schema.Boolean,
  /** Being watched by this process right now. */
  watching: Schema.Boolean,
  lastSyncedOperationId: Schema.NullOr(OperationId),
  lastSyncedAt: Schema.NullOr(Schema.Date),
  lastError: Schema.NullOr(Schema.String),
  consecutiveFailures: Schema.Number,
  /** The instance that syncs the repository (holds its lease); null when none does. */
  leaseOwner: Schema.NullOr(Schema.String)
}) {}

export class ReposPage extends Schema.Class<ReposPage>("ReposPage")({
  repos: Schema.Array(RepoSummary),
  /** Pass as `cursor` for the next page; null on the last one. */
  nextCursor: Schema.NullOr(Schema.Number)
}) {}

/** The rows of the details read once per commit, and whether every mirrored commit has them. */
export const DetailCounts = Schema.Struct({
  files: Schema.Number,
  predecessors: Schema.Number,
  /** Commits whose details are still to be read. */
  pendingCommits: Schema.Number,
  complete: Schema.Boolean
})

export class RepoDetail extends Schema.Class<RepoDetail>("RepoDetail")({
  ...RepoSummary.fields,
  operationHeads: Schema.Array(OperationId),
  changesTruncated: Schema.Boolean,
  counts: KindCounts,
  details: DetailCounts
}) {}

export class UnwatchResult extends Schema.Class<UnwatchResult>("UnwatchResult")({
  user: Schema.String,
  repo: Schema.String,
  watched: Schema.Boolean,
  purged: Schema.Boolean
}) {}

export class RepoNotFound extends Schema.TaggedError<RepoNotFound>()(
  "RepoNotFound",
  { user: Schema.String, repo: Schema.String, message: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

export class PathRejected extends Schema.TaggedError<PathRejected>()(
  "PathRejected",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 400 })
) {}

export class SyncFailed extends Schema.TaggedError<SyncFailed>()(
  "SyncFailed",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 502 })
) {}

export class SyncStillRunning extends Schema.TaggedError<SyncStillRunning>()(
  "SyncStillRunning",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 504 })
) {}

const ListParams = Schema.Struct({
  cursor: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.nonNegative())),
  limit: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 1000)))
})

/** The watcher's control endpoints, under `/api/watcher` (the paths its users already know). */
export class WatcherApiGroup extends HttpApiGroup.make("watcher")
  .add(
    HttpApiEndpoint.get("status", "/status")
      .addSuccess(WatcherStatusResponse)
      .middleware(AdminAccess)
  )
  .add(
    HttpApiEndpoint.get("listRepos", "/repos")
      .setUrlParams(ListParams)
      .addSuccess(ReposPage)
      .middleware(AdminAccess)
  )
  .add(
    HttpApiEndpoint.get("getRepo", "/repos/:user/:repo")
      .setPath(RepoPath)
      .addSuccess(RepoDetail)
      .addError(RepoNotFound)
      .middleware(OwnerAccess)
  )
  .add(
    HttpApiEndpoint.post("watch", "/watch/:user/:repo")
      .setPath(RepoPath)
      .addSuccess(RepoSummary)
      .addError(RepoNotFound)
      .addError(PathRejected)
      .middleware(AdminAccess)
  )
  .add(
    HttpApiEndpoint.del("unwatch", "/watch/:user/:repo")
      .setPath(RepoPath)
      .setUrlParams(Schema.Struct({ purge: Schema.optional(Schema.BooleanFromString) }))
      .addSuccess(UnwatchResult)
      .addError(RepoNotFound)
      .middleware(AdminAccess)
  )
  .add(
    HttpApiEndpoint.post("sync", "/sync/:user/:repo")
      .setPath(RepoPath)
      // full=true reads everything instead of only what changed since the last sync.
      .setUrlParams(Schema.Struct({ full: Schema.optional(Schema.BooleanFromString) }))
      .addSuccess(SyncResult)
      .addError(RepoNotFound)
      .addError(PathRejected)
      .addError(SyncFailed)
      .addError(SyncStillRunning)
      .middleware(OwnerAccess)
  )
  .prefix("/api/watcher")
{}
