import type { SqlError } from "@effect/sql/SqlError"
import type { Effect } from "effect"
import { Duration, Schema } from "effect"
import { OperationId, RepositoryId } from "./Ids.js"
import type { JjError, RepositoryError } from "./JjErrors.js"
import type { Lease, LeaseLost } from "./Lease.js"
import type { InvalidRepositoryName, MirrorKind, RepositoryRowNotFound } from "./Repository.js"
import { KindCounts, SyncKind } from "./Repository.js"

/** What a sync reports: the contract of the CLI's `--json`, `POST /api/watcher/sync/...` and the library. */

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

/** `POST /sync` waited its bounded time; the sync goes on and commits on its own. */
export class SyncWaitExceeded extends Schema.TaggedError<SyncWaitExceeded>()("SyncWaitExceeded", {
  repository: Schema.String,
  waitedMs: Schema.Number
}) {
  get message() {
    return `sync of ${this.repository} still running after ${Duration.format(Duration.millis(this.waitedMs))}`
  }
}

/** Every way a sync can fail; `SqlError` and some jj failures are retried before they get here. */
export type SyncError =
  | JjError
  | RepositoryError
  | SqlError
  | SyncTimeout
  | RepositoryRowNotFound
  | InvalidRepositoryName
  | LeaseLost

/** How a sync is asked for. */
export interface SyncOptions {
  /** Read and compare everything even when the op head was already synced. */
  readonly full?: boolean | undefined
  /** Called after every staged batch with the rows read so far (for a progress line). */
  readonly onProgress?: ((staged: KindCounts) => Effect.Effect<void>) | undefined
  /** The lease of the watcher instance syncing: the commit checks it is still held (fencing); none outside `serve`. */
  readonly lease?: Lease | undefined
}

/** What `jj-watcher sync` asks for: a directory, and optionally its owner/name and the kinds to mirror. */
export interface SyncTarget extends SyncOptions {
  readonly path: string
  readonly owner?: string | undefined
  readonly name?: string | undefined
  readonly kinds?: ReadonlyArray<MirrorKind> | undefined
}

/** Counts per kind, all zero: a fresh accumulator (mutable, for readers that add to it). */
export const emptyCounts = (): Record<SyncKind, number> => ({
  changes: 0,
  bookmarks: 0,
  operations: 0,
  conflicts: 0,
  tags: 0,
  workspaces: 0
})

export const addCounts = (a: KindCounts, b: KindCounts): KindCounts => {
  const sum = emptyCounts()
  for (const kind of Object.keys(sum) as Array<SyncKind>) sum[kind] = a[kind] + b[kind]
  return sum
}
