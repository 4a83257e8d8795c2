import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { changesInRevset, operationDiffDecoder } from "../src/JjClient/OperationDiff.js"

/** How the lines of `jj op diff` are read, without jj: only our templates' lines and the section headings count. */

const operation = JSON.stringify({
  id: "b2",
  parents: ["a1"],
  time: { start: "2026-11-25T22:00:00Z", end: "2026-11-25T22:00:01Z" },
  description: "describe commit 0123",
  hostname: "host",
  username: "user",
  is_snapshot: false,
  workspace_name: "default",
  attributes: {}
})
const signature = { name: "A", email: "a@example.com", timestamp: "2026-11-25T22:00:00Z" }
const commit = (id: string, hidden: boolean, empty: boolean | null = false) =>
  JSON.stringify({
    change: {
      hidden,
      empty,
      conflict: false,
      divergent: false,
      commit: {
        commit_id: id,
        change_id: "kkkk",
        parents: ["0fff"],
        description: "",
        author: signature,
        committer: signature
      }
    },
    head: !hidden,
    parent_heads: hidden ? ["0fff"] : []
  })

const decodeAll = (lines: ReadonlyArray<string>, elided: "expected" | "invalid" = "invalid") => {
  const decode = operationDiffDecoder(elided)
  return Either.all(lines.map(decode)).pipe(Either.map((items) => items.filter((item) => item !== undefined)))
}

describe("operationDiffDecoder", () => {
  it("reads the pinned operation, the commits and whether bookmarks, working copies or tags changed; skips names and targets", () => {
    const items = Either.getOrThrow(decodeAll([
      `From operation: ${operation}`,
      `  To operation: ${operation}`,
      "",
      "Changed commits:",
      `+ ${commit("0abc", false)}`,
      `+ ${commit("0def", false, null)}`,
      `- ${commit("0123", true)}`,
      "",
      "Changed working copy default@:",
      `+ ${commit("0abc", false)}`,
      `- ${commit("0123", true)}`,
      "",
      "Changed working copy \"odd name\"@:",
      "+ (absent)",
      `- ${commit("0abc", false)}`,
      "",
      "Changed local bookmarks:",
      // A name jj quotes because it is not a plain symbol: it can never look like a heading.
      "\"Changed commits\":",
      `+ ${commit("0abc", false)}`,
      "- (absent)",
      "",
      "Changed remote bookmarks:",
      "main@origin:",
      `+ tracked ${commit("0abc", false)}`,
      "",
      "Changed local tags:",
      "v1:",
      `+ ${commit("0abc", false)}`,
      "- (absent)"
    ]))
    expect(items.map((item) => item._tag)).toEqual([
      "To",
      "Commit",
      "Commit",
      "Commit",
      "WorkingCopy",
      "WorkingCopy",
      "BookmarksChanged",
      "BookmarksChanged",
      "TagsChanged"
    ])
    expect(items.filter((item) => item._tag === "WorkingCopy")).toEqual([
      { _tag: "WorkingCopy", workspace: "default", commit: { commitId: "0abc", changeId: "kkkk" } },
      { _tag: "WorkingCopy", workspace: "odd name", commit: null }
    ])
    const commits = items.flatMap((item) => item._tag === "Commit" ? [item] : [])
    expect(commits.map((item) => [item.added, item.commit.listed.hidden, "change" in item.commit.listed])).toEqual([
      [true, false, true],
      [true, false, false],
      [false, true, true]
    ])
    expect(commits.map((item) => [item.commit.head, item.commit.parentHeads])).toEqual([
      [true, []],
      [true, []],
      [false, ["0fff"]]
    ])
  })

  it("says when jj left changed commits out, with the count it printed in any form; fails when none may be", () => {
    for (const count of ["2 newly removed", "some newly removed", "10+ newly added and 1 newly removed"]) {
      const lines = ["Changed commits:", `+ ${commit("0abc", false)}`, `   (Elided ${count} revisions)`]
      const items = Either.getOrThrow(decodeAll(lines, "expected"))
      expect(items.map((item) => item._tag)).toEqual(["Commit", "Elided"])
      expect(Either.isLeft(decodeAll(lines))).toBe(true)
    }
  })

  it("fails on what it does not know, instead of mirroring less than jj said", () => {
    expect(Either.isLeft(decodeAll(["Changed commits:", "   (Elided)"], "expected"))).toBe(true)
    expect(Either.isLeft(decodeAll(["  To operation: not json"]))).toBe(true)
    expect(Either.isLeft(decodeAll(["something else"]))).toBe(true)
  })
})

describe("changesInRevset", () => {
  it("names the previous heads, or both sides' working copies, else loads the previous operation's view", () => {
    expect(changesInRevset("p1", { _tag: "Named", heads: ["0a", "0b"] })).toBe("::(visible_heads() | 0a | 0b)")
    expect(changesInRevset("p1", { _tag: "WorkingCopies", commitIds: ["0c"] })).toBe("::(working_copies() | 0c)")
    expect(changesInRevset("p1", { _tag: "WorkingCopies", commitIds: [] })).toBe("::(working_copies())")
    expect(changesInRevset("p1", { _tag: "Loaded" })).toBe("::(visible_heads() | at_operation(p1, visible_heads()))")
  })
})
