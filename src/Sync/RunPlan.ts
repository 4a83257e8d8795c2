import type { SqlError } from "@effect/sql/SqlError"
import { Effect } from "effect"
import { concatChanged } from "../Domain/Events.js"
import type { Changed } from "../Domain/Events.js"
import type { JjError, PreviousOperationMissing, PreviousOperationUnrelated } from "../Domain/JjErrors.js"
import type { KindCounts } from "../Domain/Repository.js"
import { addCounts } from "../Domain/Sync.js"
import type { FullSyncReason } from "../Domain/Sync.js"
import { fullPass } from "./FullPass.js"
import type { CommitRead } from "./FullPass.js"
import { incrementalPass } from "./IncrementalPass.js"
import type { StoredRefs } from "./MirrorWriter.js"
import type { Pass } from "./Pass.js"
import type { SyncPlan } from "./Plan.js"
import type { KeptHeads } from "./VisibleHeads.js"

/** What the passes of a plan did, inside the sync's transaction. */
export interface PlanOutcome {
  readonly mode: "incremental" | "full"
  readonly reason: FullSyncReason | null
  readonly written: KindCounts
  /** What moved, for the sync's event. */
  readonly changed: Changed
  /** Rows added net, to keep the stored row counts; undefined after a full pass (the counts are taken again). */
  readonly added: KindCounts | undefined
  /** Drift a reconciliation repaired; null otherwise. */
  readonly repaired: KindCounts | null
  readonly changesTruncated: boolean
  /** The digest of the bookmarks read; null when bookmarks are not mirrored. */
  readonly bookmarksDigest: string | null
  /** Bookmarks or tags were read and merged. */
  readonly refsRead: boolean
  /** The visible heads at the pinned operation, as the mirror keeps them. */
  readonly visibleHeads: KeptHeads
}

/**
 * How a full sync reads commits: by ids when the mirror's commits were written the same way, so that their fields
 * hold (a change of the mirrored kinds alone leaves them so); every field when the way changed, or when an operator
 * asked for a full sync (the way to repair tampered rows).
 */
export const commitReadFor = (reason: FullSyncReason, commitFieldsHold: boolean): CommitRead =>
  reason === "requested" || (reason === "format-changed" && !commitFieldsHold) ? "fields" : "ids"

/**
 * Runs the passes a plan calls for; `stored` is what the last sync recorded of the refs it read, `sinceHeads` the
 * visible heads it recorded (null when unknown), `commitFieldsHold` whether its commits were written as they would be
 * now (`Plan.commitFieldsHold`).
 */
export const runPlan = (
  pass: Pass,
  plan: Exclude<SyncPlan, { readonly _tag: "Unchanged" }>,
  stored: StoredRefs,
  sinceHeads: KeptHeads | null,
  commitFieldsHold: boolean
): Effect.Effect<PlanOutcome, JjError | PreviousOperationMissing | PreviousOperationUnrelated | SqlError> => {
  switch (plan._tag) {
    case "Incremental":
      return Effect.map(
        incrementalPass(pass, plan.since, stored, sinceHeads),
        ({ added, bookmarksDigest, changed, refsRead, visibleHeads, written }) => ({
          mode: "incremental",
          reason: null,
          written,
          changed,
          added,
          repaired: null,
          changesTruncated: false,
          bookmarksDigest,
          refsRead,
          visibleHeads
        })
      )
    case "Full":
      return Effect.map(
        fullPass(pass, commitReadFor(plan.reason, commitFieldsHold)),
        ({ bookmarksDigest, changed, changesTruncated, refsRead, visibleHeads, written }) => ({
          mode: "full",
          reason: plan.reason,
          written,
          changed,
          added: undefined,
          repaired: null,
          changesTruncated,
          bookmarksDigest,
          refsRead,
          visibleHeads
        })
      )
    case "Reconcile":
      // The difference is applied first, so that the full pass after it writes only drift.
      return Effect.gen(function*() {
        const incremental = yield* incrementalPass(pass, plan.since, stored, sinceHeads)
        yield* pass.writer.clearStaging(pass.kinds)
        const full = yield* fullPass(pass, "ids")
        return {
          mode: "full",
          reason: "reconciliation",
          written: addCounts(incremental.written, full.written),
          changed: concatChanged(incremental.changed, full.changed),
          added: undefined,
          repaired: full.written,
          changesTruncated: full.changesTruncated,
          bookmarksDigest: full.bookmarksDigest,
          refsRead: full.refsRead,
          visibleHeads: full.visibleHeads
        } as const
      })
  }
}
