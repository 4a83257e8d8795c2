import type { VisibleCommit } from "../Domain/Jj.js"

/** What the mirror holds of a commit, for a comparison with jj's visible commits. */
export interface HeldCommit {
  readonly commitId: string
  readonly changeId: string
  readonly isDivergent: boolean
  readonly hasConflicts: boolean
}

/**
 * How the mirror's commits differ from jj's visible set. A commit's fields never change for its id, so only
 * visibility and divergence can drift: fields are read for `missing` commits alone.
 */
export interface VisibleDifference {
  /** Visible commits the mirror does not hold. */
  readonly missing: ReadonlyArray<string>
  /** Held commits that are not visible. */
  readonly gone: ReadonlyArray<string>
  /** Change ids whose divergence must be recomputed: those of `gone`, and of held commits whose divergence differs. */
  readonly touchedChangeIds: ReadonlyArray<string>
  /** Held commits that stay visible and have conflicts. */
  readonly conflicted: ReadonlyArray<string>
}

export const compareVisible = (
  visible: Iterable<VisibleCommit>,
  held: Iterable<HeldCommit>
): VisibleDifference => {
  const heldById = new Map<string, HeldCommit>()
  for (const commit of held) heldById.set(commit.commitId, commit)
  const missing: Array<string> = []
  const touched = new Set<string>()
  const conflicted: Array<string> = []
  for (const { commitId, isDivergent } of visible) {
    const commit = heldById.get(commitId)
    if (commit === undefined) {
      missing.push(commitId)
      continue
    }
    heldById.delete(commitId)
    if (commit.isDivergent !== isDivergent) touched.add(commit.changeId)
    if (commit.hasConflicts) conflicted.push(commitId)
  }
  // What is left was held and is not visible.
  const gone: Array<string> = []
  for (const commit of heldById.values()) {
    gone.push(commit.commitId)
    touched.add(commit.changeId)
  }
  return { missing, gone, touchedChangeIds: [...touched], conflicted }
}
