import { describe, expect, it } from "@effect/vitest"
import { makeUndoMemos } from "../src/Operations/UndoMemos.js"
import { knownUndoState } from "../src/Operations/UndoState.js"
import type { OperationNode } from "../src/Operations/UndoState.js"

/** A linear log of `n` plain operations, newest first, as the mirror or `jj op log` gives it. */
const log = (prefix: string, n: number): Array<OperationNode> =>
  Array.from({ length: n }, (_, i) => ({
    id: `${prefix}${n - 1 - i}`,
    parentIds: n - 1 - i === 0 ? [] : [`${prefix}${n - 2 - i}`],
    description: "new empty commit"
  }))

const known = (prefix: string, n: number) => knownUndoState(log(prefix, n), `${prefix}${n - 1}`, new Map())

describe("undo memos", () => {
  it("keep at most the budget's operations, dropping the least recently used first", () => {
    const memos = makeUndoMemos<string>(250)
    memos.of("a").known = known("a", 100)
    memos.of("b").known = known("b", 100)
    memos.trim()
    expect(memos.operations()).toBe(200)
    // "a" is used again: "b" is now the least recent.
    memos.of("a")
    memos.of("c").known = known("c", 100)
    memos.trim()
    expect([memos.has("a"), memos.has("b"), memos.has("c")]).toEqual([true, false, true])
    expect(memos.operations()).toBe(200)
    // A memo alone over the budget is not kept either.
    memos.of("d").known = known("d", 300)
    memos.trim()
    expect(memos.operations()).toBe(0)
    // Memos with no state cost nothing and stay.
    expect(memos.has("e")).toBe(false)
    memos.of("e")
    memos.trim()
    expect(memos.has("e")).toBe(true)
  })
})
