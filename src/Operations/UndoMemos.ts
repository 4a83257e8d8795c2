import type { UndoMemo } from "./UndoState.js"

/** What a kept memo holds, in operations: the graph it keeps. */
const operationsIn = (memo: UndoMemo) => memo.known?.graph.ids.length ?? 0

/**
 * The undo state kept per repository (`UndoMemo`) within a budget of operations across all of them: a memo costs
 * memory in proportion to its repository's operation log, so a daemon with many long logs would otherwise grow
 * without bound. Past the budget, the memos of the repositories synced longest ago are dropped; their next undo reads
 * the graph from the mirror again, as after a restart.
 */
export const makeUndoMemos = <K>(budget: number) => {
  // In order of use, the least recent first.
  const memos = new Map<K, UndoMemo>()

  /** The key's memo, made when missing; counts as its most recent use. */
  const of = (key: K): UndoMemo => {
    const memo = memos.get(key) ?? { facts: new Map(), known: undefined }
    memos.delete(key)
    memos.set(key, memo)
    return memo
  }

  /** Drops the least recently used memos until the rest hold at most `budget` operations. */
  const trim = () => {
    let total = 0
    for (const memo of memos.values()) total += operationsIn(memo)
    for (const [key, memo] of memos) {
      if (total <= budget) break
      total -= operationsIn(memo)
      memos.delete(key)
    }
  }

  /** The operations the kept memos hold. */
  const operations = () => {
    let total = 0
    for (const memo of memos.values()) total += operationsIn(memo)
    return total
  }

  return { of, trim, operations, has: (key: K) => memos.has(key) }
}
