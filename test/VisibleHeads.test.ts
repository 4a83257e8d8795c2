import { describe, expect, it } from "@effect/vitest"
import type { CommitId } from "../src/Domain/Ids.js"
import type { DiffCommit } from "../src/JjClient/Templates.js"
import { fromColumn, keptHeads, nextVisibleHeads, toColumn } from "../src/Sync/VisibleHeads.js"

/** The visible heads after a diff, from those before it and the statuses the diff lists (no jj: pure logic). */

const signature = { name: "A", email: "a@example.com", timestamp: new Date(0) }
const listed = (
  commitId: string,
  parents: ReadonlyArray<string>,
  head: boolean,
  parentHeads: ReadonlyArray<string>,
  hidden = false
): DiffCommit => ({
  listed: {
    hidden,
    change: {
      commitId: commitId as CommitId,
      changeId: `change-${commitId}` as never,
      parentCommitIds: parents as ReadonlyArray<CommitId>,
      description: "",
      author: signature,
      committer: signature,
      hasConflicts: false,
      isDivergent: false,
      isEmpty: false
    }
  },
  head,
  parentHeads
})

describe("nextVisibleHeads", () => {
  it("a new commit on a head replaces it; other heads stay", () => {
    expect(nextVisibleHeads(["a", "x"], [listed("b", ["a"], true, [])])).toEqual(["b", "x"])
  })

  it("a rewritten head is replaced by its rewrite", () => {
    expect(nextVisibleHeads(["a", "x"], [listed("a2", ["p"], true, []), listed("a", ["p"], false, [], true)]))
      .toEqual(["a2", "x"])
  })

  it("an abandoned head leaves its parent a head, unless the parent has another visible child", () => {
    expect(nextVisibleHeads(["a", "x"], [listed("a", ["p"], false, ["p"], true)])).toEqual(["p", "x"])
    expect(nextVisibleHeads(["a", "x"], [listed("a", ["p"], false, [], true)])).toEqual(["x"])
  })

  it("a merge of two heads leaves one head", () => {
    expect(nextVisibleHeads(["a", "b"], [listed("m", ["a", "b"], true, [])])).toEqual(["m"])
  })

  it("more heads than are kept are kept as \"many\"", () => {
    const many = Array.from({ length: 17 }, (_, i) => `h${String(i).padStart(2, "0")}`)
    expect(nextVisibleHeads(many.slice(0, 16), [listed("h16", ["root"], true, [])])).toBe("many")
    expect(keptHeads(many.slice(0, 16))).toEqual(many.slice(0, 16))
    expect(toColumn("many")).toEqual([])
    expect(fromColumn([])).toBe("many")
    expect(fromColumn(null)).toBeNull()
  })

  it("commits the diff does not list keep their status", () => {
    expect(nextVisibleHeads(["z", "y"], [])).toEqual(["y", "z"])
  })
})
