import { SqlClient } from "@effect/sql"
import { Clock, Duration, Effect, Exit, Option, Schedule, Schema } from "effect"
import { DatabaseConfig } from "./Database.js"
import type { RepositoryId } from "./Domain/Ids.js"
import type { PinnedOperation, RepositoryLocation } from "./Domain/Jj.js"
import type { Lease } from "./Domain/Lease.js"
import { InvalidRepositoryName, RepositoryName, repositoryVanished } from "./Domain/Repository.js"
import type { KindCounts, Repository } from "./Domain/Repository.js"
import { emptyCounts, SyncResult, SyncTimeout } from "./Domain/Sync.js"
import type { FullSyncReason, SyncError, SyncOptions, SyncTarget } from "./Domain/Sync.js"
import { JjClient } from "./JjClient.js"
import * as Metrics from "./Metrics.js"
import { makeUndoMemos } from "./Operations/UndoMemos.js"
import { Repositories } from "./Repositories.js"
import { mirrorFormat, SyncConfig } from "./Sync/Config.js"
import { MirrorWriter } from "./Sync/MirrorWriter.js"
import { makePass } from "./Sync/Pass.js"
import * as Plan from "./Sync/Plan.js"
import { runPlan } from "./Sync/RunPlan.js"
import type { PlanOutcome } from "./Sync/RunPlan.js"
import { fromColumn, toColumn } from "./Sync/VisibleHeads.js"

const transientPgCodes = /^(08|40001|40P01|53300|57P0[123])/

/**
 * Failures worth another attempt: lost or refused connections, serialization failures, jj lock contention. A jj that
 * stalled (`JjTimeout`) is not retried: at the same operation it would stall again.
 */
const isTransient = (error: SyncError): boolean => {
  switch (error._tag) {
    case "SqlError": {
      const code = (error.cause as { readonly code?: unknown } | undefined)?.code
      return typeof code !== "string" || transientPgCodes.test(code)
    }
    case "JjCommandFailed":
      // e.g. an op head replaced (and its operation gc'ed) between reading the heads and running jj.
      return /lock|temporar|resource busy|no operation id matching|concurrent/i.test(error.stderr)
    default:
      return false
  }
}

const errorMessage = (error: unknown): string =>
  error instanceof Error && error.message !== "" ? error.message : String(error)

/** What the transaction of one sync did; the rest of a `SyncResult` is known before it starts. */
interface Applied extends Omit<PlanOutcome, "added" | "changed" | "visibleHeads"> {
  readonly counts: KindCounts
  readonly previousOperationId: Repository["lastSyncedOperationId"]
}

/**
 * Mirrors one repository at one operation into PostgreSQL, in one transaction: pin the op head, plan (see
 * `Sync/Plan.ts`), read what changed since the last synced operation or everything, with readers running as parallel
 * fibers at that operation, and commit it together with `last_synced_operation_id`, so that the database only ever
 * shows a state jj really had.
 */
export class SyncService extends Effect.Service<SyncService>()("jj-watcher/Sync", {
  effect: Effect.gen(function*() {
    const config = yield* SyncConfig
    const { schema } = yield* DatabaseConfig
    const sql = yield* SqlClient.SqlClient
    const jj = yield* JjClient
    const repositories = yield* Repositories
    const writer = yield* MirrorWriter

    const retryTransient = <A, E extends SyncError, R>(effect: Effect.Effect<A, E, R>) =>
      Effect.retry(effect, {
        schedule: Schedule.exponential(Duration.millis(50)).pipe(Schedule.jittered),
        times: config.retries,
        while: isTransient
      })

    const shapeOf = (repository: Repository) =>
      Effect.map(
        jj.version,
        (jjVersion): Plan.MirrorShape => ({
          jjVersion,
          mirrorFormat,
          maxChanges: config.maxChanges,
          kinds: repository.enabledKinds
        })
      )

    const planFor = (
      repository: Repository,
      pinned: PinnedOperation,
      synced: Plan.SyncedState | undefined,
      forced: FullSyncReason | undefined
    ) =>
      Effect.gen(function*() {
        const shape = yield* shapeOf(repository)
        const fingerprint = Plan.fingerprint(shape)
        const plan = Plan.plan({
          pinned,
          synced,
          fingerprint,
          now: yield* Clock.currentTimeMillis,
          reconcileInterval: config.reconcileInterval,
          changesLimited: Option.isSome(config.maxChanges),
          forced
        })
        return { plan, fingerprint, commitFieldsHold: Plan.commitFieldsHold(synced?.syncedWith ?? null, shape) }
      })

    /**
     * The transaction of one attempt, planned again under the row lock; `undefined` when another sync already
     * brought the row to this operation.
     */
    // Undo state per repository, kept between syncs within a budget (see `UndoMemo`, `makeUndoMemos`).
    const undoMemos = makeUndoMemos<RepositoryId>(config.undoStateOperations)

    const apply = (
      repository: Repository,
      location: RepositoryLocation,
      pinned: PinnedOperation,
      forced: FullSyncReason | undefined,
      onProgress: (staged: KindCounts) => Effect.Effect<void>,
      lease: Lease | undefined
    ) =>
      Effect.gen(function*() {
        const { id } = repository
        const synced = yield* writer.lock(id)
        const { commitFieldsHold, fingerprint, plan } = yield* planFor(repository, pinned, synced, forced)
        if (plan._tag === "Unchanged") return undefined
        const pass = yield* makePass({
          id,
          location,
          operationId: pinned.operationId,
          kinds: repository.enabledKinds,
          batchSize: config.batchSize,
          maxChanges: config.maxChanges,
          jj,
          writer,
          onProgress,
          undo: undoMemos.of(id)
        })
        const result = yield* runPlan(
          pass,
          plan,
          {
            bookmarksDigest: synced?.bookmarksDigest ?? null,
            gitExportPending: synced?.gitExportPending ?? false,
            workingCopyCommitIds: synced?.workingCopyCommitIds ?? []
          },
          fromColumn(synced?.visibleHeads ?? null),
          commitFieldsHold
        )
        const counts = yield* repositories.recordSync({
          id,
          operationId: pinned.operationId,
          heads: pinned.heads,
          changesTruncated: result.changesTruncated,
          syncedWith: fingerprint,
          full: result.mode === "full",
          added: result.added,
          bookmarksDigest: result.bookmarksDigest,
          refsRead: result.refsRead,
          visibleHeads: toColumn(result.visibleHeads),
          channel: config.notifyChannel,
          lease,
          payload: {
            schema,
            repositoryId: id,
            owner: repository.owner,
            name: repository.name,
            operationId: pinned.operationId
          },
          event: {
            previousOperationId: synced?.lastSyncedOperationId ?? null,
            mode: result.mode,
            fullReason: result.reason,
            written: result.written,
            changed: result.changed
          }
        })
        const { added: _, changed: __, visibleHeads: ___, ...reported } = result
        return { ...reported, counts, previousOperationId: synced?.lastSyncedOperationId ?? null } satisfies Applied
      }).pipe(
        sql.withTransaction,
        // A transaction that did not commit leaves the mirror where it was: what the pass learnt is dropped with it.
        Effect.onExit((exit) =>
          Effect.sync(() => {
            if (Exit.isFailure(exit)) undoMemos.of(repository.id).known = undefined
            undoMemos.trim()
          })
        )
      )

    /**
     * Syncs a repository whose row exists (at `located`, when the caller already found it); retries transient
     * failures and records the final one on the row.
     */
    const syncRepository = (repository: Repository, options?: SyncOptions, located?: RepositoryLocation) =>
      Effect.gen(function*() {
        const started = yield* Clock.currentTimeMillis
        const location = located ?? (yield* jj.locate(repository.path))
        const requested = options?.full === true ? "requested" as const : undefined
        const onProgress = options?.onProgress ?? (() => Effect.void)
        const attempt = Effect.gen(function*() {
          const pinned = yield* jj.currentOperation(location)
          // The row as read before the transaction: an unchanged plan needs no transaction at all.
          const { plan } = yield* planFor(repository, pinned, repository, requested)
          if (plan._tag === "Unchanged") return { pinned, applied: undefined }
          // When the difference cannot be read (the previous operation was garbage-collected meanwhile, or it is not
          // an ancestor of the pinned one), the attempt is rolled back and everything is read instead.
          const fullInstead = (reason: FullSyncReason) =>
            apply(repository, location, pinned, reason, onProgress, options?.lease).pipe(
              // A full sync reads no difference, so it cannot fail this way.
              Effect.catchTags({ PreviousOperationMissing: Effect.die, PreviousOperationUnrelated: Effect.die })
            )
          const applied = yield* apply(repository, location, pinned, requested, onProgress, options?.lease).pipe(
            Effect.catchTags({
              PreviousOperationMissing: () => fullInstead("previous-operation-missing"),
              PreviousOperationUnrelated: () => fullInstead("previous-operation-unrelated")
            })
          )
          return { pinned, applied }
        }).pipe(retryTransient)
        const { applied, pinned } = yield* attempt.pipe(
          Effect.timeoutFail({
            duration: config.timeout,
            onTimeout: () => new SyncTimeout({ path: repository.path, timeoutMs: Duration.toMillis(config.timeout) })
          })
        )
        const finished = yield* Clock.currentTimeMillis
        const counts = applied?.counts ?? (yield* repositories.counts(repository.id))
        return new SyncResult({
          repositoryId: repository.id,
          owner: repository.owner,
          name: repository.name,
          operationId: pinned.operationId,
          previousOperationId: applied?.previousOperationId ?? repository.lastSyncedOperationId,
          upToDate: applied === undefined,
          mode: applied?.mode ?? "unchanged",
          fullReason: applied?.reason ?? null,
          repaired: applied?.repaired ?? null,
          divergentOperations: pinned.heads.length > 1,
          operationHeads: pinned.heads,
          changesTruncated: applied?.changesTruncated ?? repository.changesTruncated,
          kinds: repository.enabledKinds,
          counts,
          written: applied?.written ?? emptyCounts(),
          durationMs: finished - started
        })
      }).pipe(
        Effect.tap((result) => Metrics.recordSync(result, result.durationMs / 1000)),
        Effect.tapError((error) =>
          Effect.gen(function*() {
            // A repository deleted under a sync fails in whatever jj was doing; what is recorded is why.
            const present = yield* Effect.isSuccess(jj.locate(repository.path))
            const message = present ? errorMessage(error) : repositoryVanished(repository.path)
            // An instance that lost the lease leaves the row to the new owner.
            if (error._tag !== "LeaseLost") {
              yield* repositories.recordFailure(repository.id, message, options?.lease).pipe(Effect.ignore)
            }
            yield* Metrics.recordSyncFailure
          })
        ),
        Effect.scoped,
        Effect.withSpan("Sync.syncRepository", { attributes: { owner: repository.owner, name: repository.name } })
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
    const syncPath = Effect.fn("Sync.syncPath")(function*(target: SyncTarget) {
      yield* Effect.annotateCurrentSpan("path", target.path)
      const location = yield* jj.locate(target.path)
      const segments = location.workspaceRoot.split("/").filter((segment) => segment !== "")
      const owner = yield* validName("owner", target.owner ?? segments.at(-2) ?? "")
      const name = yield* validName("name", target.name ?? segments.at(-1) ?? "")
      const repository = yield* Effect.gen(function*() {
        const row = yield* repositories.ensure(owner, name, location.workspaceRoot)
        return target.kinds === undefined ? row : yield* repositories.setSyncKinds(row.id, target.kinds)
      }).pipe(retryTransient)
      return yield* syncRepository(
        repository,
        target,
        repository.path === location.workspaceRoot ? location : undefined
      )
    })

    /** Syncs a repository by its row id, reading the row afresh (the watcher's entry point). */
    const syncById = Effect.fn("Sync.syncById")(function*(id: RepositoryId, options?: SyncOptions) {
      yield* Effect.annotateCurrentSpan("id", id)
      const repository = yield* repositories.getById(id).pipe(retryTransient)
      return yield* syncRepository(repository, options)
    })

    return { syncRepository, syncPath, syncById } as const
  }),
  dependencies: [JjClient.Default, Repositories.Default, MirrorWriter.Default]
}) {}
