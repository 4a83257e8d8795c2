import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { BookmarkLine, ChangeLine, sourceOfMove } from "../src/JjClient/Templates.js"

/** Lines of jj's output become domain values, or clear reasons; checked in place, explained by the schema. */

const signature = { name: "Ada", email: "ada@example.com", timestamp: "2026-11-25T10:00:00+01:00" }
const commitLine = (overrides: Record<string, unknown> = {}) =>
  JSON.stringify({
    hidden: false,
    empty: true,
    conflict: false,
    divergent: false,
    commit: {
      commit_id: "0123abcd",
      change_id: "kkmpptxz",
      parents: ["89ef"],
      description: "one\n",
      author: signature,
      committer: signature,
      ...overrides
    }
  })

it("a commit line becomes a Change with real dates", () => {
  const decoded = ChangeLine.decode(commitLine())
  expect(Either.isRight(decoded) && decoded.right).toEqual({
    hidden: false,
    change: {
      commitId: "0123abcd",
      changeId: "kkmpptxz",
      parentCommitIds: ["89ef"],
      description: "one\n",
      author: { ...signature, timestamp: new Date("2026-11-25T09:00:00Z") },
      committer: { ...signature, timestamp: new Date("2026-11-25T09:00:00Z") },
      isEmpty: true,
      hasConflicts: false,
      isDivergent: false
    }
  })
})

it("a malformed line is refused with the reason", () => {
  const reason = (line: string) =>
    Either.match(ChangeLine.decode(line), { onLeft: (why) => why, onRight: () => "decoded" })
  expect(reason("{not json")).toContain("not JSON")
  // The reason names the failing field, not just the line.
  expect(reason(commitLine({ commit_id: "XYZ" }))).toMatch(/\["commit_id"\][\s\S]*Expected a string matching/)
  expect(reason(commitLine({ change_id: "0123" }))).toMatch(/\["change_id"\][\s\S]*Expected a string matching/)
  expect(reason(commitLine({ parents: "89ef" }))).toMatch(/\["parents"\][\s\S]*Expected ReadonlyArray/)
  expect(reason(commitLine({ author: { ...signature, timestamp: "yesterday" } }))).toContain("invalid timestamp")
})

it("a bookmark line keeps its targets and says whether it is present", () => {
  const line = JSON.stringify({
    name: "main",
    remote: "origin",
    present: true,
    conflict: false,
    tracked: true,
    targets: ["0123abcd"],
    change_id: "kkmpptxz"
  })
  const decoded = BookmarkLine.decode(line)
  expect(Either.isRight(decoded) && decoded.right).toEqual({
    present: true,
    bookmark: {
      name: "main",
      remote: "origin",
      targetCommitIds: ["0123abcd"],
      targetChangeId: "kkmpptxz",
      isConflicted: false,
      isTracked: true
    }
  })
  expect(Either.isLeft(BookmarkLine.decode(line.replace("0123abcd", "not-hex")))).toBe(true)
})

describe("the old path of a rename or copy", () => {
  it("is read from jj's display path, shared components and separators included", () => {
    expect(sourceOfMove("acopy.txt", "{a.txt => acopy.txt}")).toBe("a.txt")
    expect(sourceOfMove("src/moved.txt", "src/{deep/nested/b.txt => moved.txt}")).toBe("src/deep/nested/b.txt")
    expect(sourceOfMove("x/moved2.txt", "{moved.txt => x/moved2.txt}")).toBe("moved.txt")
    expect(sourceOfMove("a/x/b", "a/{ => x}/b")).toBe("a/b")
    expect(sourceOfMove("a/b", "a/{x => }/b")).toBe("a/x/b")
    expect(sourceOfMove("x/a/b", "{a => x/a}/b")).toBe("a/b")
    expect(sourceOfMove("d/{odd}.txt", "d/{{x}.txt => {odd}.txt}")).toBe("d/{x}.txt")
    expect(sourceOfMove("b.txt", "b.txt")).toBeUndefined()
  })
})
