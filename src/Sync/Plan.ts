import { Data, Duration, Option } from "effect"
import type { OperationId } from "../Domain/Ids.js"
import type { PinnedOperation } from "../Domain/Jj.js"
import type { SyncKind } from "../Domain/Repository.js"
import type { FullSyncReason } from "../Domain/Sync.js"

/**
 * What a sync of one repository will do, decided from values alone (no jj, no database), so that every decision
 * is in one place and a unit test can check it.
 */
export type SyncPlan = Data.TaggedEnum<{
  /** The operation, its heads and the way the mirror is written are what was last synced: nothing to read. */
  Unchanged: {}
  /** Read only what changed since `since`, the last synced operation. */
  Incremental: { readonly since: OperationId }
  /** Read everything at the pinned operation and make the tables equal to it. */
  Full: { readonly reason: FullSyncReason }
  /** Apply the difference since `since`, then compare everything with jj and repair what still differs. */
  Reconcile: { readonly since: OperationId }
}>
export const SyncPlan = Data.taggedEnum<SyncPlan>()

/** What a sync last recorded for a repository (its `repositories` row, read with or without the row lock). */
export interface SyncedState {
  readonly lastSyncedOperationId: OperationId | null
  readonly operationHeads: ReadonlyArray<OperationId>
  readonly syncedWith: string | null
  readonly lastFullSyncAt: Date | null
}

/** What shapes the rows of a mirror besides jj's data; a mirror written any other way is read again in full. */
export interface MirrorShape {
  readonly jjVersion: string
  readonly mirrorFormat: number
  readonly maxChanges: Option.Option<number>
  readonly kinds: ReadonlyArray<SyncKind>
}

/** What shapes the fields of the stored commits: everything in the fingerprint but the kinds. */
const commitFieldsPart = (shape: MirrorShape): string =>
  [
    `jj ${shape.jjVersion}`,
    `format ${shape.mirrorFormat}`,
    ...Option.match(shape.maxChanges, { onNone: () => [], onSome: (max) => [`max-changes ${max}`] })
  ].join("; ")

/** The fingerprint stored as `repositories.synced_with`. */
export const fingerprint = (shape: MirrorShape): string => `${commitFieldsPart(shape)}; kinds ${shape.kinds.join(",")}`

/**
 * Whether the commits a mirror holds were written as they would be now (its fingerprint differs, if at all, only in
 * the kinds): a full sync then compares visible ids instead of reading every commit again.
 */
export const commitFieldsHold = (syncedWith: string | null, shape: MirrorShape): boolean =>
  syncedWith?.startsWith(`${commitFieldsPart(shape)}; kinds `) === true

/**
 * Mirrors last compared in full at or before this instant are due for reconciliation; none when the interval is
 * zero (reconciliation off).
 */
export const reconciliationCutoff = (now: number, interval: Duration.Duration): Option.Option<Date> =>
  Duration.toMillis(interval) > 0 ? Option.some(new Date(now - Duration.toMillis(interval))) : Option.none()

/** Whether a mirror last compared in full at `lastFullSyncAt` is due for reconciliation at `now`. */
export const reconciliationDue = (lastFullSyncAt: Date | null, now: number, interval: Duration.Duration): boolean =>
  Option.match(reconciliationCutoff(now, interval), {
    onNone: () => false,
    onSome: (cutoff) => lastFullSyncAt === null || lastFullSyncAt.getTime() <= cutoff.getTime()
  })

/** Whether the op heads on disk are exactly the one operation last synced (the watcher's cheap catch-up check). */
export const headsSynced = (heads: ReadonlyArray<string>, lastSyncedOperationId: string | null): boolean =>
  heads.length === 1 && heads[0] === lastSyncedOperationId

export interface PlanInput {
  readonly pinned: PinnedOperation
  /** The repository's last recorded state; undefined when it has no row. */
  readonly synced: SyncedState | undefined
  /** `fingerprint` of how the mirror would be written now. */
  readonly fingerprint: string
  readonly now: number
  readonly reconcileInterval: Duration.Duration
  /** A change limit is set: the mirror may be truncated, so it is always read in full. */
  readonly changesLimited: boolean
  /** A full sync the caller already knows is needed (a request, an operation that vanished). */
  readonly forced?: FullSyncReason | undefined
}

/** Decides how to sync; the order of the checks is the precedence of the full-sync reasons. */
export const plan = (input: PlanInput): SyncPlan => {
  const { synced } = input
  if (input.forced !== undefined) return SyncPlan.Full({ reason: input.forced })
  const since = synced?.lastSyncedOperationId ?? null
  const sameShape = synced?.syncedWith === input.fingerprint
  const reconcile = reconciliationDue(synced?.lastFullSyncAt ?? null, input.now, input.reconcileInterval)
  if (
    since === input.pinned.operationId && sameShape && !reconcile &&
    synced?.operationHeads.length === input.pinned.heads.length
  ) {
    return SyncPlan.Unchanged()
  }
  if (since === null) return SyncPlan.Full({ reason: "first-sync" })
  if (!sameShape) return SyncPlan.Full({ reason: "format-changed" })
  if (input.changesLimited) return SyncPlan.Full({ reason: "changes-limit" })
  if (reconcile) return SyncPlan.Reconcile({ since })
  return SyncPlan.Incremental({ since })
}
