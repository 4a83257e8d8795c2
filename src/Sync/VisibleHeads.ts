import type { DiffCommit } from "../JjClient/Templates.js"

/**
 * The visible heads the mirror keeps of its last synced operation, for the next `jj op diff` to name (instead of
 * loading that operation's view again), or "many" when there are more than `maxKeptHeads`: jj's cost for a union of
 * named ancestries grows faster than their number and passes that of a view load at a few dozen, so the diff then
 * loads the view. "many" lasts until a full sync lists the heads again.
 */
export type KeptHeads = ReadonlyArray<string> | "many"

export const maxKeptHeads = 16

/** The heads to keep of a listing of every visible head. */
export const keptHeads = (heads: ReadonlyArray<string>): KeptHeads => heads.length > maxKeptHeads ? "many" : heads

/** The stored column: NULL is unknown (a mirror from before it existed), an empty array "many". */
export const fromColumn = (column: ReadonlyArray<string> | null): KeptHeads | null =>
  column === null ? null : column.length === 0 ? "many" : column

export const toColumn = (heads: KeptHeads): ReadonlyArray<string> => heads === "many" ? [] : heads

/** Whether each commit a diff named (listed, or the parent of one listed) is a visible head at the pinned operation. */
export type HeadStatuses = Map<string, boolean>

/** Notes what a commit of the diff says of itself and of its parents. */
export const noteHeadStatuses = (isHead: HeadStatuses, { head, listed, parentHeads }: DiffCommit): void => {
  const fields = "change" in listed ? listed.change : listed.pending
  isHead.set(fields.commitId, head)
  for (const parent of fields.parentCommitIds) isHead.set(parent, parentHeads.includes(parent))
}

/**
 * The visible heads of the pinned operation, from those of the previous one and the statuses jj's diff of the two
 * gave (`noteHeadStatuses`).
 *
 * A commit's head status changes only when one of its children appears or stops being visible, and every such child
 * is in the diff (its revset covers the ancestors of both sides' heads), with the status of itself and of each of its
 * parents at the pinned operation. So every commit whose status may have changed is listed with its new status, and
 * every other keeps its previous one.
 */
export const nextVisibleHeads = (previous: ReadonlyArray<string>, isHead: HeadStatuses): KeptHeads => {
  const heads = new Set(previous)
  for (const [commitId, head] of isHead) {
    if (head) heads.add(commitId)
    else heads.delete(commitId)
  }
  return keptHeads([...heads].sort())
}
