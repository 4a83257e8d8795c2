import { describe, expect, it } from "@effect/vitest"
import { Duration, Option } from "effect"
import type { OperationId } from "../src/Domain/Ids.js"
import {
  commitFieldsHold,
  fingerprint,
  headsSynced,
  plan,
  reconciliationCutoff,
  reconciliationDue,
  SyncPlan
} from "../src/Sync/Plan.js"
import type { PlanInput, SyncedState } from "../src/Sync/Plan.js"
import { commitReadFor } from "../src/Sync/RunPlan.js"

/** Every decision of the sync plan, from values alone: no jj, no PostgreSQL. */

const op = (id: string) => id as OperationId
const shape = fingerprint({
  jjVersion: "0.45.1",
  mirrorFormat: 1,
  maxChanges: Option.none(),
  kinds: ["changes", "bookmarks", "operations", "conflicts"]
})
const now = Date.parse("2026-11-25T12:00:00Z")
const hour = Duration.hours(1)
const synced: SyncedState = {
  lastSyncedOperationId: op("aa"),
  operationHeads: [op("aa")],
  syncedWith: shape,
  lastFullSyncAt: new Date(now - 10 * 60_000)
}
const input = (overrides: Partial<PlanInput> = {}): PlanInput => ({
  pinned: { operationId: op("aa"), heads: [op("aa")] },
  synced,
  fingerprint: shape,
  now,
  reconcileInterval: hour,
  changesLimited: false,
  ...overrides
})

describe("sync plan", () => {
  it("nothing to do when the operation, its heads and the mirror's shape are what was synced", () => {
    expect(plan(input())).toEqual(SyncPlan.Unchanged())
  })

  it("a new operation is read incrementally from the last synced one", () => {
    expect(plan(input({ pinned: { operationId: op("bb"), heads: [op("bb")] } }))).toEqual(
      SyncPlan.Incremental({ since: op("aa") })
    )
  })

  it("the same operation with another number of heads is read again", () => {
    expect(plan(input({ pinned: { operationId: op("aa"), heads: [op("aa"), op("cc")] } }))).toEqual(
      SyncPlan.Incremental({ since: op("aa") })
    )
  })

  it("a forced reason wins over everything, even an unchanged repository", () => {
    expect(plan(input({ forced: "requested" }))).toEqual(SyncPlan.Full({ reason: "requested" }))
    expect(plan(input({ synced: undefined, forced: "previous-operation-missing" }))).toEqual(
      SyncPlan.Full({ reason: "previous-operation-missing" })
    )
  })

  it("a repository never synced is read in full, whatever else differs", () => {
    expect(plan(input({ synced: undefined }))).toEqual(SyncPlan.Full({ reason: "first-sync" }))
    expect(plan(input({ synced: { ...synced, lastSyncedOperationId: null, syncedWith: null }, changesLimited: true })))
      .toEqual(SyncPlan.Full({ reason: "first-sync" }))
  })

  it("a mirror written another way is read in full, at the same operation too", () => {
    const other = fingerprint({ jjVersion: "0.46.0", mirrorFormat: 1, maxChanges: Option.none(), kinds: ["changes"] })
    expect(plan(input({ fingerprint: other }))).toEqual(SyncPlan.Full({ reason: "format-changed" }))
    expect(plan(input({ fingerprint: other, changesLimited: true }))).toEqual(
      SyncPlan.Full({ reason: "format-changed" })
    )
  })

  it("a change limit reads in full whenever there is something to read", () => {
    expect(plan(input({ changesLimited: true }))).toEqual(SyncPlan.Unchanged())
    expect(plan(input({ changesLimited: true, pinned: { operationId: op("bb"), heads: [op("bb")] } }))).toEqual(
      SyncPlan.Full({ reason: "changes-limit" })
    )
  })

  it("a due reconciliation applies the difference and compares everything, even at the same operation", () => {
    const due = { ...synced, lastFullSyncAt: new Date(now - Duration.toMillis(hour)) }
    expect(plan(input({ synced: due }))).toEqual(SyncPlan.Reconcile({ since: op("aa") }))
    expect(plan(input({ synced: { ...synced, lastFullSyncAt: null } }))).toEqual(
      SyncPlan.Reconcile({ since: op("aa") })
    )
    expect(plan(input({ synced: due, reconcileInterval: Duration.zero }))).toEqual(SyncPlan.Unchanged())
    expect(plan(input({ synced: due, changesLimited: true }))).toEqual(SyncPlan.Full({ reason: "changes-limit" }))
  })

  it("reconciliation is due at exactly the interval, never when it is zero", () => {
    const interval = Duration.minutes(5)
    expect(reconciliationDue(new Date(now - 5 * 60_000), now, interval)).toBe(true)
    expect(reconciliationDue(new Date(now - 5 * 60_000 + 1), now, interval)).toBe(false)
    expect(reconciliationDue(null, now, interval)).toBe(true)
    expect(reconciliationDue(null, now, Duration.zero)).toBe(false)
    expect(reconciliationCutoff(now, interval)).toEqual(Option.some(new Date(now - 5 * 60_000)))
    expect(reconciliationCutoff(now, Duration.zero)).toEqual(Option.none())
  })

  it("a change of the mirrored kinds alone keeps the commits' fields: such a full sync compares ids", () => {
    const shape = { jjVersion: "0.45.1", mirrorFormat: 1, maxChanges: Option.none(), kinds: ["changes"] } as const
    const stored = fingerprint({ ...shape, kinds: ["changes", "bookmarks"] })
    expect(commitFieldsHold(stored, shape)).toBe(true)
    expect(commitFieldsHold(fingerprint({ ...shape, jjVersion: "0.44.0" }), shape)).toBe(false)
    expect(commitFieldsHold(fingerprint({ ...shape, mirrorFormat: 0 }), shape)).toBe(false)
    expect(commitFieldsHold(fingerprint({ ...shape, maxChanges: Option.some(10) }), shape)).toBe(false)
    expect(commitFieldsHold(null, shape)).toBe(false)
    expect(commitReadFor("format-changed", true)).toBe("ids")
    expect(commitReadFor("format-changed", false)).toBe("fields")
    expect(commitReadFor("requested", true)).toBe("fields")
    expect(commitReadFor("reconciliation", false)).toBe("ids")
  })

  it("the fingerprint names everything that shapes the rows", () => {
    expect(shape).toBe("jj 0.45.1; format 1; kinds changes,bookmarks,operations,conflicts")
    expect(fingerprint({ jjVersion: "0.45.1", mirrorFormat: 2, maxChanges: Option.some(10), kinds: ["changes"] })).toBe(
      "jj 0.45.1; format 2; max-changes 10; kinds changes"
    )
  })

  it("the op heads on disk match the last synced operation only when they are exactly it", () => {
    expect(headsSynced(["aa"], "aa")).toBe(true)
    expect(headsSynced(["aa"], null)).toBe(false)
    expect(headsSynced(["aa", "bb"], "aa")).toBe(false)
    expect(headsSynced([], "aa")).toBe(false)
  })
})
