import { SqlClient } from "@effect/sql"
import { SqlError } from "@effect/sql/SqlError"
import {
  Array as Arr,
  Clock,
  Config,
  Duration,
  Effect,
  Option,
  Ref,
  Schedule,
  Schema,
  Stream
} from "effect"
import { DatabaseConfig, DatabaseLive } from "./Database.js"
import { OperationId, RepositoryId } from "./Domain/Ids.js"
import type { PinnedOperation, RepositoryLocation } from "./Domain/Jj.js"
import { InvalidRepositoryName, KindCounts, RepositoryName, SyncKind } from "./Domain/Repository.js"
import type { Repository } from "./Domain/Repository.js"
import { JjClient } from "./JjClient.js"
import * as Metrics from "./Metrics.js"
import type { JjError, RepositoryError } from "./JjClient/Errors.js"
import { undoneOperations } from "./Operations/UndoState.js"
import type { OperationNode } from "./Operations/UndoState.js"
import { Repositories } from "./Repositories.js"
import { SyncRepo } from "./Sync/Repo.js"

export const SyncConfig = Config.all({
  /** Stop reading changes after this many and say so; unlimited when unset. */
  maxChanges: Config.option(Config.integer("WATCHER_MAX_CHANGES").pipe(Config.validate({
    message: "WATCHER_MAX_CHANGES must be positive",
    validation: (n) => n > 0
  }))),
  timeout: Config.duration("SYNC_TIMEOUT").pipe(Config.withDefault(Duration.minutes(10))),
  retries: Config.integer("SYNC_RETRIES").pipe(Config.withDefault(3)),
  batchSize: Config.integer("SYNC_BATCH_SIZE").pipe(Config.withDefault(2_000)),
  notifyChannel: Config.string("NOTIFY_CHANNEL").pipe(Config.withDefault("jj_watcher"))
})

export const SyncMode = Schema.Literal("unchanged", "incremental", "full")
export type SyncMode = typeof SyncMode.Type

export const FullSyncReason = Schema.Literal(
  "first-sync",
  "requested",
  "previous-operation-missing",
  "format-changed",
  "reconciliation",
  "changes-limit"
)
export type FullSyncReason = typeof FullSyncReason.Type

export class SyncResult extends Schema.Class<SyncResult>("SyncResult")({
  repositoryId: RepositoryId,
  owner: Schema.String,
  name: Schema.String,
  operationId: OperationId,
  previousOperationId: Schema.NullOr(OperationId),
  /** True when the op head was already synced: nothing was read or written. */
  upToDate: Schema.Boolean,
  /** How the sync read jj: not at all, only what changed since `previousOperationId`, or everything. */
  mode: SyncMode,
  /** Why a full sync was done; null unless `mode` is "full". */
  fullReason: Schema.NullOr(FullSyncReason),
  /** Rows a reconciliation found different from jj after the incremental part (drift it repaired); else null. */
  repaired: Schema.NullOr(KindCounts),
  /** True when jj has several op heads (concurrent operations not merged yet); see `operationHeads`. */
  divergentOperations: Schema.Boolean,
  operationHeads: Schema.Array(OperationId),
  changesTruncated: Schema.Boolean,
  kinds: Schema.Array(SyncKind),
  /** Rows the mirror holds after the sync (open conflicts only). */
  counts: KindCounts,
  /** Rows inserted, updated, deleted or resolved by this sync. */
  written: KindCounts,
  durationMs: Schema.Number
}) {}

export class SyncTimeout extends Schema.TaggedError<SyncTimeout>()("SyncTimeout", {
  path: Schema.String,
  timeoutMs: Schema.Number
}) {
  get message() {
    return `sync of ${this.path} did not finish within ${this.timeoutMs} ms`
  }
}

export class RepositoryNotFound extends Schema.TaggedError<RepositoryNotFound>()("RepositoryNotFound", {
  id: RepositoryId
}) {
  get message() {
    return `no repository with id ${this.id}`
  }
}

/** What `jj-watcher sync` asks for: a directory, and optionally its owner/name and the kinds to mirror. */
export interface SyncTarget {
  readonly path: string
  readonly owner?: string | undefined
  readonly name?: string | undefined
  readonly kinds?: ReadonlyArray<SyncKind> | undefined
  /** Read and compare everything even when the op head was already synced. */
  readonly full?: boolean | undefined
}

const transientPgCodes = /^(08|40001|40P01|53300|57P0[123])/

/** Failures worth another attempt: lost or refused connections, serialization failures, jj lock contention. */
const isTransient = (error: JjError | RepositoryError | SqlError): boolean => {
  switch (error._tag) {
    case "SqlError": {
      const code = (error.cause as { readonly code?: unknown } | undefined)?.code
      return typeof code !== "string" || transientPgCodes.test(code)
    }
    case "JjTimeout":
      return true
    case "JjCommandFailed":
      // e.g. an op head replaced (and its operation gc'ed) between reading the heads and running jj.
      return /lock|temporar|resource busy|no operation id matching|concurrent/i.test(error.stderr)
    default:
      return false
  }
}

const errorMessage = (error: unknown): string =>
  error instanceof Error && error.message !== "" ? error.message : String(error)

/**
 * Mirrors one repository at one operation into PostgreSQL, in one transaction: pin the op head, read changes,
 * bookmarks, operations and conflicts as four parallel fibers at that operation, and commit them together with
 * `last_synced_operation_id`, so the database only ever shows a state jj really had.
 */
export class SyncService extends Effect.Service<SyncService>()("SyncService", {
  effect: Effect.gen(function*() {
    const config = yield* SyncConfig
    const { schema } = yield* DatabaseConfig
    const sql = yield* SqlClient.SqlClient
    const jj = yield* JjClient
    const repositories = yield* Repositories
    const repo = yield* SyncRepo

    /** The transaction of one attempt; `undefined` when another sync already brought the row to this operation. */
    const apply = (repository: Repository, location: RepositoryLocation, pinned: PinnedOperation, full: boolean) =>
      Effect.gen(function*() {
        const id = repository.id
        const { operationId } = pinned
        const last = yield* repo.lock(id)
        if (!full && last?.lastSyncedOperationId === operationId && Arr.length(last.operationHeads) === pinned.heads.length) {
          return undefined
        }
        yield* repo.createStaging
        const truncated = yield* Ref.make(false)
        const undoGraph: Array<OperationNode> = []
        // The readers share the transaction's one connection: their statements take turns on it.
        const connection = yield* Effect.makeSemaphore(1)
        const staged: Record<SyncKind, number> = { changes: 0, bookmarks: 0, operations: 0, conflicts: 0 }
        const batches = <A, E>(
          kind: SyncKind,
          stream: Stream.Stream<A, E>,
          stage: (batch: ReadonlyArray<A>) => Effect.Effect<void, SqlError>
        ) =>
          stream.pipe(
            Stream.grouped(config.batchSize),
            Stream.runForEach((chunk) => {
              staged[kind] += chunk.length
              return connection.withPermits(1)(stage(Arr.fromIterable(chunk)))
            })
          )
        const limitChanges = <A, E>(stream: Stream.Stream<A, E>) =>
          Option.match(config.maxChanges, {
            onNone: () => stream,
            onSome: (max) =>
              stream.pipe(
                Stream.take(max + 1),
                Stream.zipWithIndex,
                Stream.tap(([, index]) => index === max ? Ref.set(truncated, true) : Effect.void),
                Stream.filter(([, index]) => index < max),
                Stream.map(([change]) => change)
              )
          })
        const readers: Record<SyncKind, Effect.Effect<void, JjError | SqlError>> = {
          changes: batches("changes", limitChanges(jj.changes(location, operationId)), (batch) => repo.stageChanges(id, batch)),
          bookmarks: batches("bookmarks", jj.bookmarks(location, operationId), (batch) => repo.stageBookmarks(id, batch)),
          operations: batches(
            "operations",
            jj.operations(location, operationId).pipe(Stream.tap((operation) =>
              Effect.sync(() =>
                undoGraph.push({
                  id: operation.operationId,
                  parentIds: operation.parentOperationIds,
                  // Only undo/redo/restore/revert descriptions matter to the undo state; keep the others small.
                  description: /operation [0-9a-f]+$/.test(operation.description) ? operation.description : ""
                })
              )
            )),
            (batch) => repo.stageOperations(id, batch)
          ).pipe(Effect.zipRight(Effect.suspend(() =>
            connection.withPermits(1)(repo.markUndone([...undoneOperations(undoGraph, operationId)]))
          ))),
          conflicts: batches("conflicts", jj.conflicts(location, operationId), (batch) => repo.stageConflicts(batch))
        }
        const kinds = repository.enabledKinds
        // Four readers as parallel fibers at the same pinned operation; their batches share this transaction.
        yield* Effect.all(kinds.map((kind) => readers[kind]), { concurrency: "unbounded", discard: true })
        const written = { changes: 0, bookmarks: 0, operations: 0, conflicts: 0 }
        for (const kind of kinds) written[kind] = yield* repo.merge(id, kind, staged[kind] > config.batchSize)
        const changesTruncated = yield* Ref.get(truncated)
        const counts = yield* repo.finish({
          id,
          operationId,
          heads: pinned.heads,
          changesTruncated,
          channel: config.notifyChannel,
          payload: { schema, repositoryId: id, owner: repository.owner, name: repository.name, operationId }
        })
        return { written, counts, changesTruncated, previousOperationId: last?.lastSyncedOperationId ?? null }
      }).pipe(sql.withTransaction)

    /** Syncs a repository whose row exists; retries transient failures and records the final one on the row. */
    const syncRepository = (repository: Repository, options?: { readonly full?: boolean | undefined }) =>
      Effect.gen(function*() {
        const started = yield* Clock.currentTimeMillis
        const location = yield* jj.locate(repository.path)
        const attempt = Effect.gen(function*() {
          const pinned = yield* jj.currentOperation(location)
          const full = options?.full === true
          const upToDate = !full && repository.lastSyncedOperationId === pinned.operationId &&
            repository.operationHeads.length === pinned.heads.length
          const applied = upToDate ? undefined : yield* apply(repository, location, pinned, full)
          return { pinned, applied }
        }).pipe(
          Effect.retry({
            schedule: Schedule.exponential(Duration.millis(50)).pipe(Schedule.jittered),
            times: config.retries,
            while: isTransient
          })
        )
        const { applied, pinned } = yield* attempt.pipe(
          Effect.timeoutFail({
            duration: config.timeout,
            onTimeout: () => new SyncTimeout({ path: repository.path, timeoutMs: Duration.toMillis(config.timeout) })
          })
        )
        const finished = yield* Clock.currentTimeMillis
        const counts = applied?.counts ?? (yield* repo.counts(repository.id))
        return new SyncResult({
          repositoryId: repository.id,
          owner: repository.owner,
          name: repository.name,
          operationId: pinned.operationId,
          previousOperationId: applied?.previousOperationId ?? repository.lastSyncedOperationId,
          upToDate: applied === undefined,
          mode: applied === undefined ? "unchanged" : "full",
          fullReason: applied === undefined ? null : "requested",
          repaired: null,
          divergentOperations: pinned.heads.length > 1,
          operationHeads: pinned.heads,
          changesTruncated: applied?.changesTruncated ?? repository.changesTruncated,
          kinds: repository.enabledKinds,
          counts,
          written: applied?.written ?? { changes: 0, bookmarks: 0, operations: 0, conflicts: 0 },
          durationMs: finished - started
        })
      }).pipe(
        Effect.tap((result) =>
          Metrics.recordSync(result.upToDate ? "up_to_date" : "success", result.durationMs / 1000)
        ),
        Effect.tapError((error) =>
          Effect.zipRight(
            repositories.recordFailure(repository.id, errorMessage(error)).pipe(Effect.ignore),
            Metrics.recordSync("failure", 0)
          )
        ),
        Effect.scoped,
        Effect.withSpan("SyncService.syncRepository", {
          attributes: { owner: repository.owner, name: repository.name }
        })
      )

    const validName = (field: "owner" | "name", value: string) =>
      Schema.decodeUnknown(RepositoryName)(value).pipe(
        Effect.mapError(() => new InvalidRepositoryName({ field, value }))
      )

    /**
     * Syncs the jj repository at `target.path`, creating its row when needed. Owner and name default to the parent
     * directory's name and the directory's name (the `repos/<owner>/<repo>` layout). Nothing is written when the
     * path is missing or is not a jj repository.
     */
    const syncPath = (target: SyncTarget) =>
      Effect.gen(function*() {
        const location = yield* jj.locate(target.path)
        const segments = location.workspaceRoot.split("/").filter((segment) => segment !== "")
        const owner = yield* validName("owner", target.owner ?? segments.at(-2) ?? "")
        const name = yield* validName("name", target.name ?? segments.at(-1) ?? "")
        let repository = yield* repositories.ensure(owner, name, location.workspaceRoot)
        if (target.kinds !== undefined) repository = yield* repositories.setSyncKinds(repository.id, target.kinds)
        return yield* syncRepository(repository, { full: target.full })
      }).pipe(Effect.withSpan("SyncService.syncPath", { attributes: { path: target.path } }))

    /** Syncs a repository by its row id, reading the row afresh (the watcher's entry point). */
    const syncById = (id: RepositoryId) =>
      Effect.gen(function*() {
        const found = yield* repositories.findById(id)
        if (Option.isNone(found)) return yield* new RepositoryNotFound({ id })
        return yield* syncRepository(found.value)
      }).pipe(
        Effect.withSpan("SyncService.syncById", { attributes: { id } })
      )

    return { syncRepository, syncPath, syncById } as const
  }),
  dependencies: [DatabaseLive, JjClient.Default, Repositories.Default, SyncRepo.Default]
}) {}
