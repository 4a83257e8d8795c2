import { describe, expect, it } from "@effect/vitest"
import type { RepositoryId } from "../src/Domain/Ids.js"
import { decide } from "../src/Leases/Plan.js"
import type { HeldLease } from "../src/Leases/Plan.js"

const ids = (...n: Array<number>) => n.map((id) => id as RepositoryId)
const held = (seers: number, ...n: Array<number>): Array<HeldLease> => ids(...n).map((id) => ({ id, epoch: 1, seers }))
const idle = () => false

describe("what an instance does with its leases after a renewal", () => {
  it("claims up to its share, no more than is claimable", () => {
    const visible = new Set(ids(1, 2, 3, 4, 5, 6))
    expect(decide({ held: [], visible, share: 2, claimable: 6, busy: idle })).toEqual({ release: [], claim: 2 })
    expect(decide({ held: held(3, 1), visible, share: 2, claimable: 0, busy: idle })).toEqual({ release: [], claim: 0 })
    expect(decide({ held: held(3, 1, 2), visible, share: 2, claimable: 4, busy: idle })).toEqual({
      release: [],
      claim: 0
    })
  })

  it("gives back what it holds above its share, idle repositories first, never one only it sees", () => {
    const visible = new Set(ids(1, 2, 3, 4, 5))
    const leases = [...held(1, 1), ...held(2, 2, 3, 4), ...held(3, 5)]
    // Share 2 of 5 held: three go back; the one only this instance sees stays, the most-seen goes first.
    const decision = decide({ held: leases, visible, share: 2, claimable: 0, busy: (id) => id === 4 })
    expect(decision.release).toEqual(ids(5, 3, 2))
    expect(decision.claim).toBe(0)
  })

  it("gives back repositories it no longer sees, and claims in their place", () => {
    const decision = decide({ held: held(2, 1, 2), visible: new Set(ids(2, 3)), share: 2, claimable: 1, busy: idle })
    expect(decision).toEqual({ release: ids(1), claim: 1 })
  })

  it("keeps a busy repository above its share until its sync is done", () => {
    const decision = decide({
      held: held(2, 1, 2),
      visible: new Set(ids(1, 2)),
      share: 1,
      claimable: 0,
      busy: () => true
    })
    expect(decision).toEqual({ release: [], claim: 0 })
  })
})
