import { describe, expect, it } from "@effect/vitest"
import type { CommitId } from "../src/Domain/Ids.js"
import type { DiffCommit } from "../src/JjClient/Templates.js"
import { fromColumn, keptHeads, nextVisibleHeads, noteHeadStatuses, toColumn } from "../src/Sync/VisibleHeads.js"

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

/** The heads after a diff that listed `commits`. */
const after = (previous: ReadonlyArray<string>, commits: ReadonlyArray<DiffCommit>) => {
  const statuses = new Map<string, boolean>()
  for (const commit of commits) noteHeadStatuses(statuses, commit)
  return nextVisibleHeads(previous, statuses)
}

describe("nextVisibleHeads", () => {
  it("a new commit on a head replaces it; other heads stay", () => {
    expect(after(["a", "x"], [listed("b", ["a"], true, [])])).toEqual(["b", "x"])
  })

  it("a rewritten head is replaced by its rewrite", () => {
    expect(after(["a", "x"], [listed("a2", ["p"], true, []), listed("a", ["p"], false, [], true)]))
      .toEqual(["a2", "x"])
  })

  it("an abandoned head leaves its parent a head, unless the parent has another visible child", () => {
    expect(after(["a", "x"], [listed("a", ["p"], false, ["p"], true)])).toEqual(["p", "x"])
    expect(after(["a", "x"], [listed("a", ["p"], false, [], true)])).toEqual(["x"])
  })

  it("a merge of two heads leaves one head", () => {
    expect(after(["a", "b"], [listed("m", ["a", "b"], true, [])])).toEqual(["m"])
  })

  it("more heads than are kept are kept as \"many\"", () => {
    const many = Array.from({ length: 17 }, (_, i) => `h${String(i).padStart(2, "0")}`)
    expect(after(many.slice(0, 16), [listed("h16", ["root"], true, [])])).toBe("many")
    expect(keptHeads(many.slice(0, 16))).toEqual(many.slice(0, 16))
    expect(toColumn("many")).toEqual([])
    expect(fromColumn([])).toBe("many")
    expect(fromColumn(null)).toBeNull()
  })

  it("commits the diff does not list keep their status", () => {
    expect(after(["z", "y"], [])).toEqual(["y", "z"])
  })
})
