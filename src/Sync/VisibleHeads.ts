import type { DiffCommit } from "../JjClient/Templates.js"

/**
 * The visible heads of the pinned operation, from those of the previous one and jj's diff of the two.
 *
 * A commit's head status changes only when one of its children appears or stops being visible, and every such child
 * is in the diff (its revset covers the ancestors of both sides' heads), with the status of itself and of each of its
 * parents at the pinned operation. So every commit whose status may have changed is listed with its new status, and
 * every other keeps its previous one.
 */
export const nextVisibleHeads = (previous: ReadonlyArray<string>, listed: Iterable<DiffCommit>): Array<string> => {
  const isHead = new Map<string, boolean>()
  for (const { head, listed: commit, parentHeads } of listed) {
    const fields = "change" in commit ? commit.change : commit.pending
    isHead.set(fields.commitId, head)
    for (const parent of fields.parentCommitIds) isHead.set(parent, parentHeads.includes(parent))
  }
  const heads = new Set(previous)
  for (const [commitId, head] of isHead) {
    if (head) heads.add(commitId)
    else heads.delete(commitId)
  }
  return [...heads].sort()
}
