import { SqlClient } from "@effect/sql"
import { SqlError } from "@effect/sql/SqlError"
import {
  Array as Arr,
  Chunk,
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
import type { Bookmark, Change, Operation, PinnedOperation, RepositoryLocation } from "./Domain/Jj.js"
import { allSyncKinds, InvalidRepositoryName, KindCounts, RepositoryName, SyncKind } from "./Domain/Repository.js"
import type { Repository } from "./Domain/Repository.js"
import { JjClient } from "./JjClient.js"
import * as Metrics from "./Metrics.js"
import type {
  JjError,
  PreviousOperationMissing,
  PreviousOperationUnrelated,
  RepositoryError
} from "./JjClient/Errors.js"
import { operationKind, undoneOperations } from "./Operations/UndoState.js"
import type { OperationNode } from "./Operations/UndoState.js"
import { Repositories } from "./Repositories.js"
import { SyncRepo } from "./Sync/Repo.js"
import type { MergeScope } from "./Sync/Repo.js"

export const SyncConfig = Config.all({
  /** Stop reading changes after this many and say so; unlimited when unset. */
  maxChanges: Config.option(Config.integer("WATCHER_MAX_CHANGES").pipe(Config.validate({
    message: "WATCHER_MAX_CHANGES must be positive",
    validation: (n) => n > 0
  }))),
  timeout: Config.duration("SYNC_TIMEOUT").pipe(Config.withDefault(Duration.minutes(10))),
  retries: Config.integer("SYNC_RETRIES").pipe(Config.withDefault(3)),
  batchSize: Config.integer("SYNC_BATCH_SIZE").pipe(Config.withDefault(2_000)),
  notifyChannel: Config.string("NOTIFY_CHANNEL").pipe(Config.withDefault("jj_watcher")),
  /** How often a repository is compared with jj in full, repairing drift; 0 turns reconciliation off. */
  reconcileInterval: Config.duration("SYNC_RECONCILE_INTERVAL").pipe(Config.withDefault(Duration.hours(1)))
})

/**
 * The version of what a sync derives from jj into the tables. Bump it when a migration or a reader changes the rows a
 * mirror holds: every mirror written before is then read again in full ("format-changed").
 */
export const mirrorFormat = 1

/** Above this many commits a conflicts read lists them all instead of naming them in a revset. */
const maxListedCommits = 1_000

/** What the undo state needs of an operation; only undo/redo/restore/revert descriptions matter, others stay small. */
const undoNode = (operation: Operation): OperationNode => ({
  id: operation.operationId,
  parentIds: operation.parentOperationIds,
  description: /operation [0-9a-f]+$/.test(operation.description) ? operation.description : ""
})

export const SyncMode = Schema.Literal("unchanged", "incremental", "full")
export type SyncMode = typeof SyncMode.Type

export const FullSyncReason = Schema.Literal(
  "first-sync",
  "requested",
  "previous-operation-missing",
  "previous-operation-unrelated",
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

/** How a sync is asked for. */
export interface SyncOptions {
  /** Read and compare everything even when the op head was already synced. */
  readonly full?: boolean | undefined
  /** Called after every staged batch with the rows read so far (for a progress line). */
  readonly onProgress?: ((staged: KindCounts) => Effect.Effect<void>) | undefined
}

/** What `jj-watcher sync` asks for: a directory, and optionally its owner/name and the kinds to mirror. */
export interface SyncTarget extends SyncOptions {
  readonly path: string
  readonly owner?: string | undefined
  readonly name?: string | undefined
  readonly kinds?: ReadonlyArray<SyncKind> | undefined
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
 * Mirrors one repository at one operation into PostgreSQL, in one transaction: pin the op head, read what changed
 * since the last synced operation (or everything) with readers running as parallel fibers at that operation, and
 * commit it together with `last_synced_operation_id`, so the database only ever shows a state jj really had.
 */
export class SyncService extends Effect.Service<SyncService>()("SyncService", {
  effect: Effect.gen(function*() {
    const config = yield* SyncConfig
    const { schema } = yield* DatabaseConfig
    const sql = yield* SqlClient.SqlClient
    const jj = yield* JjClient
    const repositories = yield* Repositories
    const repo = yield* SyncRepo

    const emptyCounts = (): Record<SyncKind, number> => ({ changes: 0, bookmarks: 0, operations: 0, conflicts: 0 })
    const addCounts = (a: KindCounts, b: KindCounts): KindCounts => ({
      changes: a.changes + b.changes,
      bookmarks: a.bookmarks + b.bookmarks,
      operations: a.operations + b.operations,
      conflicts: a.conflicts + b.conflicts
    })

    /**
     * How a mirror is written: jj's version, the sync format, the change limit and the kinds. An incremental sync
     * only continues a mirror written the same way; anything else is read again in full.
     */
    const fingerprint = (repository: Repository) =>
      Effect.map(jj.version, (version) =>
        [
          `jj ${version}`,
          `format ${mirrorFormat}`,
          ...Option.match(config.maxChanges, { onNone: () => [], onSome: (max) => [`max-changes ${max}`] }),
          `kinds ${repository.enabledKinds.join(",")}`
        ].join("; ")
      )

    /** Whether a periodic reconciliation is due for a mirror last compared in full at `lastFullSyncAt`. */
    const reconciliationDue = (lastFullSyncAt: Date | null, now: number) =>
      Duration.toMillis(config.reconcileInterval) > 0 &&
      (lastFullSyncAt === null || now - lastFullSyncAt.getTime() >= Duration.toMillis(config.reconcileInterval))

    /**
     * The transaction of one attempt; `undefined` when another sync already brought the row to this operation.
     * `forced` names why a full sync is needed when the caller already knows (a request, a vanished operation).
     */
    const apply = (
      repository: Repository,
      location: RepositoryLocation,
      pinned: PinnedOperation,
      forced: FullSyncReason | undefined,
      onProgress: (staged: KindCounts) => Effect.Effect<void>
    ) =>
      Effect.gen(function*() {
        const id = repository.id
        const { operationId } = pinned
        const state = yield* repo.lock(id)
        const previous = state?.lastSyncedOperationId ?? null
        const syncedWith = yield* fingerprint(repository)
        const reconcile = reconciliationDue(state?.lastFullSyncAt ?? null, yield* Clock.currentTimeMillis)
        if (
          forced === undefined && !reconcile && previous === operationId && state?.syncedWith === syncedWith &&
          Arr.length(state.operationHeads) === pinned.heads.length
        ) {
          return undefined
        }
        const reason: FullSyncReason | undefined = forced ??
          (previous === null
            ? "first-sync"
            : state?.syncedWith !== syncedWith
            ? "format-changed"
            : Option.isSome(config.maxChanges)
            ? "changes-limit"
            : reconcile
            ? "reconciliation"
            : undefined)

        yield* repo.createStaging
        const kinds = repository.enabledKinds
        // The readers share the transaction's one connection: their statements take turns on it.
        const connection = yield* Effect.makeSemaphore(1)
        const onConnection = connection.withPermits(1)
        const batches = <A, E>(
          staged: Record<SyncKind, number>,
          kind: SyncKind,
          stream: Stream.Stream<A, E>,
          stage: (batch: ReadonlyArray<A>) => Effect.Effect<void, SqlError>
        ) =>
          stream.pipe(
            Stream.grouped(config.batchSize),
            // jj keeps writing (and we keep decoding) the next batches while one is sent to PostgreSQL.
            Stream.buffer({ capacity: 2 }),
            Stream.runForEach((chunk) => {
              staged[kind] += chunk.length
              return Effect.zipRight(onConnection(stage(Arr.fromIterable(chunk))), onProgress(staged))
            })
          )
        /** Merges every kind; `direct` changes were written straight into their table. */
        const mergeAll = (staged: Record<SyncKind, number>, scopes: Record<SyncKind, MergeScope>, direct = false) =>
          Effect.gen(function*() {
            const written = emptyCounts()
            const added = emptyCounts()
            for (const kind of kinds) {
              const merged = kind === "changes" && direct
                ? { written: staged.changes, added: staged.changes }
                : yield* repo.merge(id, kind, scopes[kind], staged[kind] > config.batchSize)
              written[kind] = merged.written
              added[kind] = merged.added
            }
            return { written, added }
          })
        /**
         * Stages the conflicts of the named commits, or of every conflicted commit when none are named or too many to
         * name in a revset; says whether it read them all.
         */
        const readConflicts = (staged: Record<SyncKind, number>, commitIds: ReadonlyArray<string> | undefined) => {
          const all = commitIds === undefined || commitIds.length > maxListedCommits
          return batches(
            staged,
            "conflicts",
            jj.conflicts(location, operationId, all ? undefined : commitIds),
            (batch) => repo.stageConflicts(batch)
          ).pipe(Effect.as(all))
        }

        /** Reads everything at the pinned operation and makes the tables equal to it. */
        const fullPass = Effect.gen(function*() {
          const staged = emptyCounts()
          const truncated = yield* Ref.make(false)
          const undoGraph: Array<OperationNode> = []
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
          // An empty mirror (a first import) gets its changes written directly, with no staging and merging.
          const direct = kinds.includes("changes") && (yield* repo.hasNoChanges(id))
          const conflicted: Array<string> = []
          const changes = batches(staged, "changes", limitChanges(jj.changes(location, operationId)), (batch) => {
            for (const change of batch) if (change.hasConflicts) conflicted.push(change.commitId)
            return repo.stageChanges(id, batch, direct)
          })
          const readers: Array<Effect.Effect<unknown, JjError | SqlError>> = []
          // Conflicts are read for the conflicted commits the changes reader saw, unless it stopped early.
          if (kinds.includes("changes")) {
            readers.push(
              kinds.includes("conflicts")
                ? Effect.zipRight(
                  changes,
                  Effect.flatMap(Ref.get(truncated), (stopped) => readConflicts(staged, stopped ? undefined : conflicted))
                )
                : changes
            )
          } else if (kinds.includes("conflicts")) readers.push(readConflicts(staged, undefined))
          if (kinds.includes("bookmarks")) {
            readers.push(batches(staged, "bookmarks", jj.bookmarks(location, operationId), (batch) =>
              repo.stageBookmarks(id, batch)))
          }
          if (kinds.includes("operations")) {
            readers.push(
              batches(
                staged,
                "operations",
                jj.operations(location, operationId).pipe(
                  Stream.tap((operation) => Effect.sync(() => undoGraph.push(undoNode(operation))))
                ),
                (batch) => repo.stageOperations(id, batch)
              ).pipe(Effect.zipRight(Effect.suspend(() =>
                onConnection(repo.markUndone([...undoneOperations(undoGraph, operationId)]))
              )))
            )
          }
          // The readers run as parallel fibers at the same pinned operation; their batches share this transaction.
          yield* Effect.all(readers, { concurrency: "unbounded", discard: true })
          const { written } = yield* mergeAll(
            staged,
            { changes: "all", bookmarks: "all", operations: "all", conflicts: "all" },
            direct
          )
          return { written, changesTruncated: yield* Ref.get(truncated) }
        })

        /**
         * Reads only what changed since `since`: commits that appeared or went away, operations newer than it, and
         * conflicts of the commits that appeared (with the other conflicted commits of their changes); bookmarks are
         * few and read whole, and only their differences are written.
         */
        const incrementalPass = (since: OperationId) =>
          Effect.gen(function*() {
            const staged = emptyCounts()
            const difference = { hiddenCommitIds: [] as Array<string>, touchedChangeIds: [] as Array<string> }
            const scopes: Record<SyncKind, MergeScope> = {
              changes: difference,
              bookmarks: "all",
              operations: difference,
              conflicts: difference
            }
            const conflicted: Array<string> = []
            /** Notes what a changed commit touched and returns it when it appeared. */
            const appeared = ({ change, hidden }: { readonly hidden: boolean; readonly change: Change }) => {
              difference.touchedChangeIds.push(change.changeId)
              if (hidden) {
                difference.hiddenCommitIds.push(change.commitId)
                return []
              }
              if (change.hasConflicts) conflicted.push(change.commitId)
              return [change]
            }
            const stageAppeared = (changes: ReadonlyArray<Change>) =>
              changes.length > 0 ? repo.stageChanges(id, changes) : Effect.void
            // One jj process lists the difference and every bookmark (a process fewer is most of an incremental
            // sync's cost); each bookmark is kept once and staged at the end.
            const listing = Effect.gen(function*() {
              const bookmarks = new Map<string, Bookmark>()
              yield* batches(
                staged,
                "changes",
                jj.changedCommitsWithBookmarks(location, operationId, since).pipe(
                  Stream.mapChunks((lines) => {
                    for (const line of lines) {
                      for (const bookmark of line.bookmarks) {
                        bookmarks.set(JSON.stringify([bookmark.name, bookmark.remote]), bookmark)
                      }
                    }
                    return Chunk.filter(lines, (line) => line.inDifference)
                  })
                ),
                (batch) => kinds.includes("changes") ? stageAppeared(batch.flatMap(appeared)) : Effect.void
              )
              if (kinds.includes("bookmarks")) {
                yield* batches(staged, "bookmarks", Stream.fromIterable(bookmarks.values()), (batch) =>
                  repo.stageBookmarks(id, batch))
              }
            })
            // Conflicts of the commits that appeared and of the other conflicted commits of their changes, read once
            // the changes are staged; all of them when changes are not mirrored.
            const conflicts = Effect.gen(function*() {
              const commitIds = kinds.includes("changes")
                ? Arr.dedupe([...conflicted, ...(yield* onConnection(repo.conflictedSiblings(id, difference)))])
                : undefined
              if (yield* readConflicts(staged, commitIds)) scopes.conflicts = "all"
            })
            const operations = Effect.gen(function*() {
              // Walk the log from the head until every path back has reached a stored operation and `since` was
              // seen. When `since` is not an ancestor of the head (concurrent operations), the walk reads the whole
              // log and the table is made equal to it.
              const frontier = new Set<string>([operationId])
              const graph: Array<OperationNode> = []
              let sinceSeen = false
              yield* batches(
                staged,
                "operations",
                jj.operations(location, operationId).pipe(
                  Stream.mapEffect((operation) =>
                    Effect.gen(function*() {
                      graph.push(undoNode(operation))
                      if (operation.operationId === since) {
                        sinceSeen = true
                        frontier.delete(operation.operationId)
                      } else if (frontier.delete(operation.operationId)) {
                        const stored = sinceSeen && (yield* onConnection(repo.hasOperation(id, operation.operationId)))
                        if (!stored) for (const parent of operation.parentOperationIds) frontier.add(parent)
                      }
                      return { operation, done: sinceSeen && frontier.size === 0 }
                    })
                  ),
                  Stream.takeUntil(({ done }) => done),
                  Stream.map(({ operation }) => operation)
                ),
                (batch) => repo.stageOperations(id, batch)
              )
              if (!sinceSeen) {
                scopes.operations = "all"
                yield* onConnection(repo.markUndone([...undoneOperations(graph, operationId)]))
              }
              // Undo state only moves with an undo, redo, restore or revert, or when concurrent operations merge.
              return sinceSeen && graph.some((node) =>
                node.id !== since && (operationKind(node.description)._tag !== "Plain" || node.parentIds.length > 1)
              )
            })
            let recomputeUndone = false
            const readers: Array<Effect.Effect<void, JjError | PreviousOperationMissing | PreviousOperationUnrelated | SqlError>> = []
            if (kinds.includes("changes") || kinds.includes("bookmarks")) {
              // Conflicts follow the commits the listing staged; without changes they are all read, in parallel.
              readers.push(kinds.includes("changes") && kinds.includes("conflicts") ? Effect.zipRight(listing, conflicts) : listing)
            }
            if (kinds.includes("conflicts") && !kinds.includes("changes")) readers.push(conflicts)
            if (kinds.includes("operations")) {
              readers.push(Effect.map(operations, (recompute) => {
                recomputeUndone = recompute
              }))
            }
            yield* Effect.all(readers, { concurrency: "unbounded", discard: true })
            const { added, written } = yield* mergeAll(staged, scopes)
            if (recomputeUndone) {
              const graph = yield* repo.operationGraph(id)
              written.operations += yield* repo.setUndone(id, [...undoneOperations(graph, operationId)])
            }
            return { written, added }
          })

        const result = yield* Effect.gen(function*() {
          if (reason === undefined || reason === "reconciliation") {
            const incremental = yield* incrementalPass(previous!)
            if (reason === undefined) {
              return {
                mode: "incremental" as const,
                reason: null,
                written: incremental.written,
                added: incremental.added,
                repaired: null,
                changesTruncated: false
              }
            }
            // A reconciliation applies the difference first, so that the full pass after it writes only drift.
            yield* repo.clearStaging(allSyncKinds)
            const full = yield* fullPass
            return {
              mode: "full" as const,
              reason,
              written: addCounts(incremental.written, full.written),
              added: undefined,
              repaired: full.written,
              changesTruncated: full.changesTruncated
            }
          }
          const full = yield* fullPass
          return {
            mode: "full" as const,
            reason,
            written: full.written,
            added: undefined,
            repaired: null,
            changesTruncated: full.changesTruncated
          }
        })
        const counts = yield* repo.finish({
          id,
          operationId,
          heads: pinned.heads,
          changesTruncated: result.changesTruncated,
          syncedWith,
          full: result.mode === "full",
          added: result.added,
          channel: config.notifyChannel,
          payload: { schema, repositoryId: id, owner: repository.owner, name: repository.name, operationId }
        })
        const { added: _, ...reported } = result
        return { ...reported, counts, previousOperationId: previous }
      }).pipe(sql.withTransaction)

    /** Syncs a repository whose row exists; retries transient failures and records the final one on the row. */
    const syncRepository = (repository: Repository, options?: SyncOptions) =>
      Effect.gen(function*() {
        const started = yield* Clock.currentTimeMillis
        const location = yield* jj.locate(repository.path)
        const requested = options?.full === true ? "requested" as const : undefined
        const onProgress = options?.onProgress ?? (() => Effect.void)
        const attempt = Effect.gen(function*() {
          const pinned = yield* jj.currentOperation(location)
          // Nothing to do only when the operation, its heads and the way the mirror is written are all unchanged.
          const upToDate = requested === undefined && repository.lastSyncedOperationId === pinned.operationId &&
            repository.operationHeads.length === pinned.heads.length &&
            repository.syncedWith === (yield* fingerprint(repository)) &&
            !reconciliationDue(repository.lastFullSyncAt, started)
          // When the difference cannot be read (the previous operation was garbage-collected meanwhile, or it is not
          // an ancestor of the pinned one), the attempt is rolled back and everything is read instead.
          const fullInstead = (reason: FullSyncReason) =>
            apply(repository, location, pinned, reason, onProgress).pipe(
              // A full sync reads no difference, so it cannot fail this way.
              Effect.catchTags({ PreviousOperationMissing: Effect.die, PreviousOperationUnrelated: Effect.die })
            )
          const applied = upToDate ? undefined : yield* apply(repository, location, pinned, requested, onProgress).pipe(
            Effect.catchTags({
              PreviousOperationMissing: () => fullInstead("previous-operation-missing"),
              PreviousOperationUnrelated: () => fullInstead("previous-operation-unrelated")
            })
          )
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
          Effect.zipRight(
            repositories.recordFailure(repository.id, errorMessage(error)).pipe(Effect.ignore),
            Metrics.recordSyncFailure
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
        return yield* syncRepository(repository, target)
      }).pipe(Effect.withSpan("SyncService.syncPath", { attributes: { path: target.path } }))

    /** Syncs a repository by its row id, reading the row afresh (the watcher's entry point). */
    const syncById = (id: RepositoryId, options?: SyncOptions) =>
      Effect.gen(function*() {
        const found = yield* repositories.findById(id)
        if (Option.isNone(found)) return yield* new RepositoryNotFound({ id })
        return yield* syncRepository(found.value, options)
      }).pipe(
        Effect.withSpan("SyncService.syncById", { attributes: { id } })
      )

    return { syncRepository, syncPath, syncById } as const
  }),
  dependencies: [DatabaseLive, JjClient.Default, Repositories.Default, SyncRepo.Default]
}) {}
