import { describe, expect, it } from "@effect/vitest"
import { advanceUndoState, knownUndoState, operationKind, undoneOperations } from "../src/Operations/UndoState.js"
import type { OperationNode } from "../src/Operations/UndoState.js"

/** Builds a linear log from `[id, description]` pairs, oldest first, on top of a root operation. */
const linear = (...ops: ReadonlyArray<readonly [string, string]>): Array<OperationNode> => {
  const nodes: Array<OperationNode> = [{ id: "0", parentIds: [], description: "" }]
  for (const [id, description] of ops) nodes.push({ id, parentIds: [nodes.at(-1)!.id], description })
  return nodes
}

const undone = (nodes: ReadonlyArray<OperationNode>) => [...undoneOperations(nodes, nodes.at(-1)!.id)].sort()

describe("undo state", () => {
  it("classifies jj's undo, redo, restore and revert descriptions", () => {
    expect(operationKind("undo: restore to operation ab12")).toEqual({ _tag: "Restore", target: "ab12" })
    expect(operationKind("redo: restore to operation cd34")).toEqual({ _tag: "Restore", target: "cd34" })
    expect(operationKind("restore to operation ef56")).toEqual({ _tag: "Restore", target: "ef56" })
    expect(operationKind("revert operation 0a")).toEqual({ _tag: "Revert", target: "0a" })
    expect(operationKind("undo operation 0b")).toEqual({ _tag: "Revert", target: "0b" })
    expect(operationKind("describe commit 1234")).toEqual({ _tag: "Plain" })
  })

  it("a state carried from operation to operation stays what a fresh computation gives, and says what changed", () => {
    // A seeded walk of plain operations, undos, redos, restores and reverts, one or two at a time.
    let seed = 7
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648
      return seed % n
    }
    let log = linear(["a", "new"])
    const facts = new Map()
    let known = knownUndoState(log, "a", facts)
    for (let step = 0; step < 200; step++) {
      const walked: Array<OperationNode> = []
      for (let k = 0; k <= random(2); k++) {
        const parent = walked.at(-1)?.id ?? known.head
        const target = log[1 + random(log.length - 1)]!.id
        const description = [
          "describe",
          "new",
          `undo: restore to operation ${target}`,
          `redo: restore to operation ${target}`,
          `restore to operation ${target}`,
          `revert operation ${target}`
        ][random(6)]!
        const node = { id: `o${step}x${k}`, parentIds: [parent], description }
        walked.push(node)
        log = [...log, node]
      }
      const head = walked.at(-1)!.id
      const before = new Set(known.undone)
      const { changed, state } = advanceUndoState(known, walked, head, facts)
      const fresh = undoneOperations(log, head)
      expect([...state.undone].sort(), `step ${step}`).toEqual([...fresh].sort())
      for (const { id, undone } of changed) expect(before.has(id), `step ${step} ${id}`).toBe(!undone)
      expect(changed.length, `step ${step}`).toBe(
        [...fresh].filter((id) => !before.has(id)).length + [...before].filter((id) => !fresh.has(id)).length
      )
      known = state
    }
  })

  it("effects kept from earlier calls over a growing log give what a fresh computation gives", () => {
    const facts = new Map()
    let log = linear(["a", "new"], ["b", "new"])
    const steps = [
      "undo: restore to operation a",
      "redo: restore to operation b",
      "describe",
      "undo: restore to operation b",
      "revert operation b"
    ]
    for (const [index, description] of steps.entries()) {
      log = [...log, { id: `s${index}`, parentIds: [log.at(-1)!.id], description }]
      const head = log.at(-1)!.id
      expect([...undoneOperations(log, head, facts)].sort()).toEqual(undone(log))
    }
    // One effect per undo, redo, restore or revert, each computed once.
    expect(facts.size).toBe(4)
  })

  it("nothing is undone in a plain history", () => {
    expect(undone(linear(["a", "new"], ["b", "describe"]))).toEqual([])
  })

  it("undo marks the undone operation; redo reverses that and marks the undo", () => {
    const log = linear(["a", "new"], ["b", "new"], ["u", "undo: restore to operation a"])
    expect(undone(log)).toEqual(["b"])
    const redone = [...log, { id: "r", parentIds: ["u"], description: "redo: restore to operation b" }]
    expect(undone(redone)).toEqual(["u"])
  })

  it("follows jj's undo stack, jumping over old stacks (the example in jj's undo.rs)", () => {
    // A B C, D = undo C (restore B), E, F = undo E (restore B), G = undo F (restore A).
    const log = linear(
      ["a", "A"],
      ["b", "B"],
      ["c", "C"],
      ["d", "undo: restore to operation b"],
      ["e", "E"],
      ["f", "undo: restore to operation b"]
    )
    // C and E are undone; D's effect (C gone) still holds.
    expect(undone(log)).toEqual(["c", "e"])
    const deeper = [...log, { id: "g", parentIds: ["f"], description: "undo: restore to operation a" }]
    expect(undone(deeper)).toEqual(["b", "c", "e"])
  })

  it("a revert removes one operation's effect; reverting the revert brings it back", () => {
    // Operation ids are hex, as jj's are.
    const log = linear(["a", "A"], ["b", "B"], ["c", "C"], ["d", "revert operation b"])
    expect(undone(log)).toEqual(["b"])
    const back = [...log, { id: "e", parentIds: ["d"], description: "revert operation d" }]
    expect(undone(back)).toEqual(["d"])
  })

  it("merged concurrent operations keep both sides in effect", () => {
    const nodes: Array<OperationNode> = [
      { id: "0", parentIds: [], description: "" },
      { id: "a", parentIds: ["0"], description: "A" },
      { id: "b", parentIds: ["a"], description: "B" },
      { id: "c", parentIds: ["a"], description: "C" },
      { id: "m", parentIds: ["b", "c"], description: "reconcile divergent operations" }
    ]
    expect(undone(nodes)).toEqual([])
  })
})
