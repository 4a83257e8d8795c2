import { describe, expect, it } from "@effect/vitest"
import type { CommitId } from "../src/Domain/Ids.js"
import { compareVisible } from "../src/Sync/Visibility.js"

/** The comparison of jj's visible commits with the mirror's, without jj or PostgreSQL. */

const visible = (commitId: string, isDivergent = false) => ({ commitId: commitId as CommitId, isDivergent })
const held = (commitId: string, changeId: string, flags: { isDivergent?: boolean; hasConflicts?: boolean } = {}) => ({
  commitId,
  changeId,
  isDivergent: flags.isDivergent ?? false,
  hasConflicts: flags.hasConflicts ?? false
})

describe("compareVisible", () => {
  it("equal sets differ in nothing, and name the held conflicted commits", () => {
    expect(compareVisible([visible("a1"), visible("b1")], [held("a1", "ka"), held("b1", "kb", { hasConflicts: true })]))
      .toEqual({ missing: [], gone: [], touchedChangeIds: [], conflicted: ["b1"] })
  })

  it("visible commits not held are missing; held ones not visible are gone, their changes touched", () => {
    expect(compareVisible([visible("a1"), visible("c1")], [held("a1", "ka"), held("b1", "kb", { hasConflicts: true })]))
      .toEqual({ missing: ["c1"], gone: ["b1"], touchedChangeIds: ["kb"], conflicted: [] })
  })

  it("a held commit whose divergence differs from jj's touches its change, once", () => {
    expect(
      compareVisible(
        [visible("a1", true), visible("a2", true), visible("b1")],
        [held("a1", "ka"), held("a2", "ka"), held("b1", "kb", { isDivergent: true })]
      )
    ).toEqual({ missing: [], gone: [], touchedChangeIds: ["ka", "kb"], conflicted: [] })
  })

  it("an empty mirror misses every visible commit; an empty repository has every held commit gone", () => {
    expect(compareVisible([visible("a1")], []).missing).toEqual(["a1"])
    expect(compareVisible([], [held("a1", "ka")])).toEqual({
      missing: [],
      gone: ["a1"],
      touchedChangeIds: ["ka"],
      conflicted: []
    })
  })
})
