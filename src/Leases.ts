import * as PgClient from "@effect/sql-pg/PgClient"
import { Deferred, Duration, Effect, Metric, Option, Queue, Schedule, Schema, Stream } from "effect"
import type { RepositoryId } from "./Domain/Ids.js"
import type { Lease } from "./Domain/Lease.js"
import { decide } from "./Leases/Plan.js"
import { LeaseStore } from "./Leases/Store.js"
import type { Claimed, Instance } from "./Leases/Store.js"
import * as Metrics from "./Metrics.js"

export interface LeasesOptions {
  readonly instance: Instance
  readonly ttl: Duration.Duration
  readonly renewInterval: Duration.Duration
  /** The channel peers are told on of released leases and forwarded syncs. */
  readonly channel: string
  /**
   * The repositories this instance may claim, given the base directories of the other live instances; asked at every
   * round.
   */
  readonly visible: (otherBases: ReadonlyArray<string>) => Iterable<RepositoryId>
  /** A sync of the repository is running or due here: handed over after the idle ones. */
  readonly busy: (id: RepositoryId) => boolean
  /** Leases just claimed: their repositories are this instance's to sync from now on. */
  readonly onClaimed: (claimed: ReadonlyArray<Claimed>) => Effect.Effect<void>
  /** Leases no longer held: given back (`released`) or found held by another instance (`taken`). */
  readonly onLost: (ids: ReadonlyArray<RepositoryId>, how: "released" | "taken") => Effect.Effect<void>
  /** Manual syncs wait for repositories this instance holds. */
  readonly onRequests: Effect.Effect<void>
  /**
   * Whether this instance syncs at all: one that does not (`WATCHER_ENABLED=false`, an API-only process) neither
   * registers nor claims, and only forwards manual syncs.
   */
  readonly claiming: boolean
}

const PeerMessage = Schema.parseJson(Schema.Struct({
  schema: Schema.String,
  kind: Schema.Literal("released", "request", "done"),
  repositoryId: Schema.optional(Schema.Number),
  requestId: Schema.optional(Schema.Number)
}))
const decodePeerMessage = Schema.decodeUnknownOption(PeerMessage)

/**
 * This instance's leases: which repositories it syncs among the instances sharing the database. Every
 * `renewInterval` (and at once when a peer gives leases back) one statement renews them and reports this instance's
 * fair share; the instance then gives back or claims leases (`Leases/Plan.decide`). The repositories it may claim are
 * those it sees, set with `see`. On scope close it gives all back and leaves, and peers claim them at once.
 */
export const makeLeases = (options: LeasesOptions) =>
  Effect.gen(function*() {
    const store = yield* LeaseStore
    const pg = yield* PgClient.PgClient
    const { id: instanceId } = options.instance
    // Messages of instances over other schemas of the database are ignored.
    const schema = yield* store.currentSchema.pipe(Effect.orDie)
    const ttlMs = Duration.toMillis(options.ttl)
    const renewMs = Duration.toMillis(options.renewInterval)
    // The next round: one renewal interval away, or sooner when a silent instance's lease expires before that (so a
    // crashed instance's repositories are claimed as its leases expire, not up to a renewal later).
    let nextRoundMs = renewMs
    const expiryMarginMs = 10
    let held = new Map<RepositoryId, number>()
    let visible = new Set<RepositoryId>()
    let visibleWritten = false
    let otherBases: ReadonlyArray<string> = []
    // Set when the watched repositories or the other instances' base directories changed.
    let lookPending = true
    /** Takes the visible set again when something it depends on changed, and records it when it differs. */
    const lookAround = Effect.suspend(() => {
      if (lookPending) {
        lookPending = false
        const next = new Set(options.visible(otherBases))
        if (next.size !== visible.size || [...next].some((id) => !visible.has(id))) {
          visible = next
          visibleWritten = false
        }
      }
      return visibleWritten
        ? Effect.void
        : store.setVisible(options.instance, [...visible]).pipe(Effect.tap(() => (visibleWritten = true)))
    })
    let instances = 1
    let closing = false
    const lock = yield* Effect.makeSemaphore(1)
    const wakeUps = yield* Queue.sliding<void>(1)
    const waiting = new Map<number, Deferred.Deferred<void>>()
    yield* Metric.update(Metrics.leaseTakeovers, 0)
    yield* Metric.update(Metrics.leasesLost, 0)
    // Registered before the watcher's first scan writes repository rows: a peer that reads those rows also finds this
    // instance's base directory among the live ones, and does not claim what lies under it. A failure here is not
    // fatal: the first round registers too.
    if (options.claiming) {
      yield* store.register(options.instance).pipe(
        Effect.catchAllCause((cause) =>
          Effect.logWarning("registering the instance failed; its first round registers it", cause)
        )
      )
    }

    /** Renews, then gives back or claims as the plan says; one at a time. */
    const round = lock.withPermits(1)(Effect.gen(function*() {
      if (closing || !options.claiming) return
      yield* lookAround
      const renewal = yield* store.renew(options.instance, ttlMs, renewMs)
      nextRoundMs = renewal.nextExpiryMs === null
        ? renewMs
        : Math.min(renewMs, Math.max(0, renewal.nextExpiryMs) + expiryMarginMs)
      instances = renewal.instances
      if (renewal.otherBases.join("\0") !== otherBases.join("\0")) {
        // Instances came or went: what this one may claim is written now, counted from the next round.
        otherBases = renewal.otherBases
        lookPending = true
        yield* lookAround
      }
      const renewed = new Map(renewal.held.map((lease) => [lease.id, lease.epoch]))
      const taken = [...held.keys()].filter((id) => renewed.get(id) !== held.get(id))
      held = renewed
      if (taken.length > 0) {
        yield* Metric.incrementBy(Metrics.leasesLost, taken.length)
        yield* options.onLost(taken, "taken")
      }
      const decision = decide({
        held: renewal.held,
        visible,
        share: renewal.share,
        claimable: renewal.claimable,
        busy: options.busy
      })
      if (decision.release.length > 0) {
        const released = yield* store.release(instanceId, decision.release, options.channel)
        for (const id of released) held.delete(id)
        if (released.length > 0) yield* options.onLost(released, "released")
      }
      if (decision.claim > 0) {
        const claimed = yield* store.claim(instanceId, ttlMs, decision.claim)
        for (const lease of claimed) held.set(lease.id, lease.epoch)
        const takeovers = claimed.filter((lease) => lease.previousOwner !== null && lease.previousOwner !== instanceId)
        if (takeovers.length > 0) yield* Metric.incrementBy(Metrics.leaseTakeovers, takeovers.length)
        if (claimed.length > 0) yield* options.onClaimed(claimed)
      }
      yield* Metric.set(Metrics.leasesHeld, held.size)
      if (renewal.requests > 0) yield* options.onRequests
    }))

    let failing = false
    const roundLogged = round.pipe(
      Effect.tap(() =>
        failing
          ? Effect.sync(() => (failing = false)).pipe(Effect.zipRight(Effect.logInfo("leases renewed again")))
          : Effect.void
      ),
      Effect.catchAllCause((cause) =>
        failing
          ? Effect.logDebug("renewing leases failed", cause)
          : Effect.sync(() => (failing = true)).pipe(
            Effect.zipRight(Effect.logWarning("renewing leases failed; retrying every renewal interval", cause))
          )
      )
    )

    // A round every renewal interval (or as a silent instance's lease expires), or at once when woken (a peer gave
    // leases back).
    if (options.claiming) {
      yield* Effect.suspend(() => Queue.take(wakeUps).pipe(Effect.timeout(Duration.millis(nextRoundMs)))).pipe(
        Effect.ignore,
        Effect.zipRight(roundLogged),
        Effect.forever,
        Effect.forkScoped
      )
    }

    yield* pg.listen(options.channel).pipe(
      Stream.retry(Schedule.spaced("1 second")),
      Stream.runForEach((payload) =>
        Option.match(decodePeerMessage(payload), {
          onNone: () => Effect.void,
          onSome: (message) => {
            if (message.schema !== schema) return Effect.void
            switch (message.kind) {
              case "released":
                return Queue.offer(wakeUps, undefined)
              case "request":
                return message.repositoryId !== undefined && held.has(message.repositoryId as RepositoryId)
                  ? options.onRequests
                  : Effect.void
              case "done": {
                const waiter = message.requestId === undefined ? undefined : waiting.get(message.requestId)
                return waiter === undefined ? Effect.void : Deferred.succeed(waiter, undefined)
              }
            }
          }
        })
      ),
      Effect.forkScoped
    )

    /** Gives every lease back and leaves the instance list; peers are told and claim them at once. */
    const retire = lock.withPermits(1)(Effect.gen(function*() {
      if (!options.claiming) return
      closing = true
      const released = yield* store.retire(instanceId, options.channel)
      held = new Map()
      yield* Metric.set(Metrics.leasesHeld, 0)
      yield* Effect.logInfo(`gave back ${released} ${released === 1 ? "lease" : "leases"}`)
    })).pipe(
      Effect.catchAllCause((cause) => Effect.logWarning("giving back leases failed; they expire instead", cause))
    )

    return {
      instanceId,
      holds: (id: RepositoryId) => held.has(id),
      leaseOf: (id: RepositoryId): Lease | undefined => {
        const epoch = held.get(id)
        return epoch === undefined ? undefined : { owner: instanceId, epoch }
      },
      held: () => held.size,
      instances: () => instances,
      /** The watched repositories changed: a round now, which looks at them again, gives back and claims. */
      round: Effect.suspend(() => {
        lookPending = true
        return round
      }),
      /**
       * The watched repositories changed: a round soon, without waiting for it, for callers that may run inside a
       * round (a claim's catch-up).
       */
      wake: Effect.suspend(() => {
        lookPending = true
        return Queue.offer(wakeUps, undefined)
      }).pipe(Effect.asVoid),
      retire,
      /** Resolves when a peer says the forwarded request `requestId` is done (or after `timeout`, to look). */
      awaitRequest: (requestId: number, timeout: Duration.DurationInput) =>
        Effect.acquireUseRelease(
          Effect.tap(Deferred.make<void>(), (deferred) => Effect.sync(() => waiting.set(requestId, deferred))),
          (deferred) => Deferred.await(deferred).pipe(Effect.timeoutOption(timeout)),
          () => Effect.sync(() => waiting.delete(requestId))
        )
    } as const
  })

export type Leases = Effect.Effect.Success<ReturnType<typeof makeLeases>>
