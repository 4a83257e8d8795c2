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

type IndexedKind =
  | { readonly _tag: "Plain" }
  | { readonly _tag: "Restore"; readonly target: number }
  | { readonly _tag: "Revert"; readonly target: number }

/**
 * An operation log with each id numbered once (its long hex ids are hashed once, not at every step of every walk):
 * every id seen, as an operation or named by one, has an index; `nodes` holds the operations read, by index.
 */
export interface OperationGraph {
  readonly index: Map<string, number>
  readonly ids: Array<string>
  readonly nodes: Array<{ readonly parents: ReadonlyArray<number>; readonly kind: IndexedKind } | undefined>
}

const indexOf = (graph: OperationGraph, id: string): number => {
  const known = graph.index.get(id)
  if (known !== undefined) return known
  const added = graph.ids.length
  graph.index.set(id, added)
  graph.ids.push(id)
  graph.nodes.push(undefined)
  return added
}

const addNode = (graph: OperationGraph, node: OperationNode) => {
  const at = indexOf(graph, node.id)
  const kind = operationKind(node.description)
  graph.nodes[at] = {
    parents: node.parentIds.map((parent) => indexOf(graph, parent)),
    kind: kind._tag === "Plain" ? kind : { _tag: kind._tag, target: indexOf(graph, kind.target) }
  }
}

const graphOf = (log: Iterable<OperationNode>): OperationGraph => {
  const graph: OperationGraph = { index: new Map(), ids: [], nodes: [] }
  for (const node of log) addNode(graph, node)
  return graph
}

/** The plain operations whose effects make up the state at `start`, newest first (at most `limit`). */
const effectiveState = (graph: OperationGraph, start: number, limit: number): Array<number> => {
  const inEffect: Array<number> = []
  const visited = new Uint8Array(graph.ids.length)
  const reverted = new Set<number>()
  const stack = [start]
  while (stack.length > 0 && inEffect.length < limit) {
    const at = stack.pop()!
    if (visited[at] === 1) continue
    visited[at] = 1
    const node = graph.nodes[at]
    if (node === undefined) continue
    if (node.kind._tag === "Restore") {
      stack.push(node.kind.target)
      continue
    }
    if (node.kind._tag === "Revert") {
      if (!reverted.has(at)) reverted.add(node.kind.target)
    } else if (!reverted.has(at)) inEffect.push(at)
    // The first parent is walked first.
    for (let k = node.parents.length - 1; k >= 0; k--) stack.push(node.parents[k]!)
  }
  return inEffect
}

/**
 * What a move from state `before` to state `after` (both newest first) removed and added: the newest entries of
 * each up to the first one they share. Both walks are bounded, so only their recent parts are compared.
 */
const divergence = (graph: OperationGraph, before: ReadonlyArray<number>, after: ReadonlyArray<number>) => {
  const beforeSet = new Set(before)
  const afterSet = new Set(after)
  const untilShared = (list: ReadonlyArray<number>, other: ReadonlySet<number>) => {
    const end = list.findIndex((at) => other.has(at))
    return (end === -1 ? list : list.slice(0, end)).map((at) => graph.ids[at]!)
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

const undoneIn = (graph: OperationGraph, head: string, facts: UndoFacts): ReadonlySet<string> => {
  const inEffect = new Uint8Array(graph.ids.length + 1)
  for (const at of effectiveState(graph, indexOf(graph, head), Number.POSITIVE_INFINITY)) inEffect[at] = 1
  const isInEffect = (id: string) => {
    const at = graph.index.get(id)
    return at !== undefined && inEffect[at] === 1
  }
  const undone = new Set<string>()
  for (let at = 0; at < graph.nodes.length; at++) {
    const node = graph.nodes[at]
    if (node === undefined || node.parents.length === 0) continue // not read, or the root operation
    const id = graph.ids[at]!
    if (node.kind._tag === "Plain") {
      if (inEffect[at] !== 1) undone.add(id)
      continue
    }
    let effect = facts.get(id)
    if (effect === undefined) {
      const before = effectiveState(graph, node.parents[0]!, walkLimit)
      effect = node.kind._tag === "Restore"
        ? divergence(graph, before, effectiveState(graph, node.kind.target, walkLimit))
        : { removed: before.includes(node.kind.target) ? [graph.ids[node.kind.target]!] : [], added: [] }
      facts.set(id, effect)
    }
    const { added, removed } = effect
    const reversed = removed.length + added.length > 0 &&
      removed.every(isInEffect) &&
      added.every((removedAgain) => !isInEffect(removedAgain))
    if (reversed) undone.add(id)
  }
  return undone
}

/**
 * Ids of the undone operations, given the whole log (any order) and the head it was read at. `facts` keeps the
 * effects of undo operations between calls over the same log growing, so each is computed once.
 */
export const undoneOperations = (
  log: Iterable<OperationNode>,
  head: string,
  facts: UndoFacts = new Map()
): ReadonlySet<string> => undoneIn(graphOf(log), head, facts)

/** The undone operations at `head`, with the graph of the operations reachable from it. */
export interface KnownUndoState {
  readonly head: string
  readonly graph: OperationGraph
  readonly undone: ReadonlySet<string>
}

/** The known state of a whole log read at `head`. */
export const knownUndoState = (log: Iterable<OperationNode>, head: string, facts: UndoFacts): KnownUndoState => {
  const graph = graphOf(log)
  return { head, graph, undone: undoneIn(graph, head, facts) }
}

/**
 * What a process keeps of a repository's undo state between syncs: the effects of its undo operations, and the state
 * at the operation last synced once a sync read the whole graph (a full sync, or the first undo since start). The
 * caller forgets it when a sync's transaction fails, so that it never runs ahead of the mirror.
 */
export interface UndoMemo {
  readonly facts: UndoFacts
  known: KnownUndoState | undefined
}

/** Whether an operation may move the undo state: an undo, redo, restore or revert, or a merge of concurrent ones. */
export const movesUndoState = (node: OperationNode) =>
  operationKind(node.description)._tag !== "Plain" || node.parentIds.length > 1

/**
 * The state at `head` from the known state at its predecessor and the operations since (`walked`): unchanged by plain
 * operations (each only adds its own effect), computed again over the kept graph otherwise. Returns the operations
 * whose status changed, the only ones the mirror must write. Takes `known`'s graph (it grows in place).
 */
export const advanceUndoState = (
  known: KnownUndoState,
  walked: ReadonlyArray<OperationNode>,
  head: string,
  facts: UndoFacts
): { readonly state: KnownUndoState; readonly changed: ReadonlyArray<{ id: string; undone: boolean }> } => {
  for (const node of walked) addNode(known.graph, node)
  if (!walked.some((node) => node.id !== known.head && movesUndoState(node))) {
    return { state: { ...known, head }, changed: [] }
  }
  const undone = undoneIn(known.graph, head, facts)
  const changed: Array<{ id: string; undone: boolean }> = []
  for (const id of undone) if (!known.undone.has(id)) changed.push({ id, undone: true })
  for (const id of known.undone) if (!undone.has(id)) changed.push({ id, undone: false })
  return { state: { head, graph: known.graph, undone }, changed }
}
