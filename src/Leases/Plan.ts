import type { RepositoryId } from "../Domain/Ids.js"

/** A lease this instance holds after a renewal, and how many live instances can see its repository. */
export interface HeldLease {
  readonly id: RepositoryId
  readonly epoch: number
  readonly seers: number
}

export interface LeaseRound {
  readonly held: ReadonlyArray<HeldLease>
  /** The repositories this instance sees on its disk. */
  readonly visible: ReadonlySet<RepositoryId>
  /**
   * This instance's fair share: each repository it sees counts 1 / the number of live instances that see it, rounded
   * up. Instances over one base directory share evenly; one that alone sees a repository always counts it whole.
   */
  readonly share: number
  /** Watched repositories it sees that nobody holds (unowned, or their lease expired). */
  readonly claimable: number
  /** A sync of the repository is running or due here: it is handed over after the others. */
  readonly busy: (id: RepositoryId) => boolean
}

export interface LeaseDecision {
  readonly release: ReadonlyArray<RepositoryId>
  /** How many claimable repositories to claim now. */
  readonly claim: number
}

/**
 * What an instance does with its leases after renewing them: give back what it no longer sees and what it holds above
 * its share (idle repositories first, those most other instances see first, never one nobody else sees), and claim
 * up to its share. Instances that come and go thereby move leases until each holds its share.
 */
export const decide = (round: LeaseRound): LeaseDecision => {
  const unseen = round.held.filter((lease) => !round.visible.has(lease.id)).map((lease) => lease.id)
  const kept = round.held.filter((lease) => round.visible.has(lease.id))
  const excess = Math.max(0, kept.length - round.share)
  const givable = kept
    .filter((lease) => lease.seers > 1 && !round.busy(lease.id))
    .sort((a, b) => b.seers - a.seers || b.id - a.id)
    .slice(0, excess)
    .map((lease) => lease.id)
  const remaining = kept.length - givable.length
  const claim = remaining < round.share ? Math.min(round.share - remaining, round.claimable) : 0
  return { release: [...unseen, ...givable], claim }
}
