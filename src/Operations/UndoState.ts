/**
 * Which operations of a jj operation log are undone, following jj's own semantics:
 *
 * - `undo: restore to operation T`, `redo: restore to operation T` and `restore to operation T` (jj undo, jj redo,
 *   jj op restore) make the repository's state that of T;
 * - `revert operation X` (jj op revert, and the older `undo operation X`) removes X's effect from the parent state;
 * - every other operation adds its own effect to its parents' state.
 *
 * A plain operation is undone when its effect is not part of the state at the head. An undo, redo, restore or
 * revert operation is undone when its own effect was reversed later: the operations it removed are back in effect
 * and the ones it brought back are out again.
 */

export interface OperationNode {
  readonly id: string
  readonly parentIds: ReadonlyArray<string>
  readonly description: string
}

type Kind =
  | { readonly _tag: "Plain" }
  | { readonly _tag: "Restore"; readonly target: string }
  | { readonly _tag: "Revert"; readonly target: string }

/**
 * Descriptions that can name another operation (undo, redo, restore, revert): the only ones the undo state reads, so
 * every other description is kept out of memory. Used as a RegExp here and as a PostgreSQL regular expression.
 */
export const undoDescriptionPattern = /operation [0-9a-f]+$/

/** What the undo state needs of an operation: its id, its parents, and its description when it can name another. */
export const undoNode = (operation: {
  readonly operationId: string
  readonly parentOperationIds: ReadonlyArray<string>
  readonly description: string
}): OperationNode => ({
  id: operation.operationId,
  parentIds: operation.parentOperationIds,
  description: undoDescriptionPattern.test(operation.description) ? operation.description : ""
})

const restorePattern = /^(?:undo: |redo: )?restore to operation ([0-9a-f]+)$/
const revertPattern = /^(?:revert|undo) operation ([0-9a-f]+)$/

export const operationKind = (description: string): Kind => {
  const restore = restorePattern.exec(description)
  if (restore?.[1] !== undefined) return { _tag: "Restore", target: restore[1] }
  const revert = revertPattern.exec(description)
  if (revert?.[1] !== undefined) return { _tag: "Revert", target: revert[1] }
  return { _tag: "Plain" }
}

// How far back the comparison of two states looks; undo stacks are far shallower than this.
const walkLimit = 5_000

/**
 * The plain operations whose effects make up the state at `start`, newest first, and every operation the walk
 * passed through (restore and revert operations included).
 */
const effectiveState = (
  nodes: ReadonlyMap<string, OperationNode & { readonly kind: Kind }>,
  start: string,
  limit: number
) => {
  const inEffect: Array<string> = []
  const visited = new Set<string>()
  const reverted = new Set<string>()
  const stack = [start]
  while (stack.length > 0 && inEffect.length < limit) {
    const id = stack.pop()!
    if (visited.has(id)) continue
    visited.add(id)
    const node = nodes.get(id)
    if (node === undefined) continue
    switch (node.kind._tag) {
      case "Restore":
        stack.push(node.kind.target)
        break
      case "Revert":
        if (!reverted.has(id)) reverted.add(node.kind.target)
        stack.push(...[...node.parentIds].reverse())
        break
      case "Plain":
        if (!reverted.has(id)) inEffect.push(id)
        stack.push(...[...node.parentIds].reverse())
    }
  }
  return { inEffect, visited }
}

/**
 * What a move from state `before` to state `after` (both newest first) removed and added: the newest entries of
 * each up to the first one they share. Both walks are bounded, so only their recent parts are compared.
 */
const divergence = (before: ReadonlyArray<string>, after: ReadonlyArray<string>) => {
  const beforeSet = new Set(before)
  const afterSet = new Set(after)
  const untilShared = (list: ReadonlyArray<string>, other: ReadonlySet<string>) => {
    const end = list.findIndex((id) => other.has(id))
    return end === -1 ? list : list.slice(0, end)
  }
  return { removed: untilShared(before, afterSet), added: untilShared(after, beforeSet) }
}

/**
 * What an undo, redo, restore or revert operation removed from and added to its parent's state. It depends only on
 * the operation's ancestry, which its id fixes, so it can be kept across syncs (`UndoFacts`).
 */
export interface UndoEffect {
  readonly removed: ReadonlyArray<string>
  readonly added: ReadonlyArray<string>
}

/** Effects computed so far, by operation id; computing one walks up to thousands of operations. */
export type UndoFacts = Map<string, UndoEffect>

/**
 * Ids of the undone operations, given the whole log (any order) and the head it was read at. `facts` keeps the
 * effects of undo operations between calls over the same log growing, so each is computed once.
 */
export const undoneOperations = (
  log: Iterable<OperationNode>,
  head: string,
  facts: UndoFacts = new Map()
): ReadonlySet<string> => {
  const nodes = new Map<string, OperationNode & { kind: Kind }>()
  for (const node of log) nodes.set(node.id, { ...node, kind: operationKind(node.description) })
  const headState = effectiveState(nodes, head, Number.POSITIVE_INFINITY)
  const inEffect = new Set(headState.inEffect)
  const undone = new Set<string>()
  for (const node of nodes.values()) {
    if (node.parentIds.length === 0) continue // the root operation
    if (node.kind._tag === "Plain") {
      if (!inEffect.has(node.id)) undone.add(node.id)
      continue
    }
    let effect = facts.get(node.id)
    if (effect === undefined) {
      const before = effectiveState(nodes, node.parentIds[0]!, walkLimit).inEffect
      effect = node.kind._tag === "Restore"
        ? divergence(before, effectiveState(nodes, node.kind.target, walkLimit).inEffect)
        : { removed: before.includes(node.kind.target) ? [node.kind.target] : [], added: [] }
      facts.set(node.id, effect)
    }
    const { added, removed } = effect
    const reversed = removed.length + added.length > 0 &&
      removed.every((id) => inEffect.has(id)) &&
      added.every((id) => !inEffect.has(id))
    if (reversed) undone.add(node.id)
  }
  return undone
}
