import { Cause, Clock, Duration, Effect, Exit, Option, Schema } from "effect"
import type { RepositoryId } from "../Domain/Ids.js"
import type { Lease } from "../Domain/Lease.js"
import { ForwardedSyncFailed, LeaseLost } from "../Domain/Lease.js"
import { SyncResult, SyncWaitExceeded } from "../Domain/Sync.js"
import type { SyncError, SyncOptions } from "../Domain/Sync.js"
import type { Leases } from "../Leases.js"
import { LeaseStore } from "../Leases/Store.js"
import type { SyncRequest } from "../Leases/Store.js"

export interface ForwardingOptions {
  readonly instanceId: string
  /** The peers' channel (see `Leases.ts`). */
  readonly channel: string
  readonly leases: Pick<Leases, "leaseOf" | "awaitRequest">
  readonly sync: (id: RepositoryId, options: SyncOptions) => Effect.Effect<SyncResult, SyncError>
  /** Runs a forwarded sync in the background, for as long as the watcher lives. */
  readonly runInBackground: (effect: Effect.Effect<void>) => Effect.Effect<void>
}

const encodeResult = Schema.encodeSync(SyncResult)
const decodeResult = Schema.decodeUnknown(SyncResult)

/** A failure as the asking instance is told of it: the error's tag and first line. */
const describe = (cause: Cause.Cause<unknown>) => {
  const error = Cause.squash(cause)
  const tag = typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : "Defect"
  const message = error instanceof Error && error.message !== "" ? error.message : String(error)
  return { tag, message: message.split("\n")[0] ?? "" }
}

/**
 * Manual syncs (`POST /api/watcher/sync/...`) across instances: one asked of an instance that does not hold the
 * repository's lease is queued in `sync_requests` for the owner, notified to it, run there under its lease, and its
 * outcome handed back to the instance that was asked.
 */
export const makeForwarding = (options: ForwardingOptions) =>
  Effect.gen(function*() {
    const store = yield* LeaseStore

    /** Runs a manual sync forwarded here (this instance holds the lease) and records its outcome. */
    const answer = (request: SyncRequest) => {
      const lease: Lease | undefined = options.leases.leaseOf(request.repositoryId)
      const run = lease === undefined
        ? Effect.fail(new LeaseLost({ repositoryId: request.repositoryId, owner: options.instanceId, epoch: 0 }))
        : options.sync(request.repositoryId, { full: request.fullSync, lease })
      return run.pipe(
        Effect.exit,
        Effect.flatMap((exit) =>
          store.finishRequest(
            request.id,
            Exit.match(exit, {
              onSuccess: (result) => ({ result: encodeResult(result) }),
              onFailure: (cause) => ({ error: describe(cause) })
            }),
            options.channel
          )
        ),
        Effect.catchAllCause((cause) => Effect.logWarning(`answering forwarded sync ${request.id} failed`, cause))
      )
    }

    /** Takes the manual syncs forwarded to this instance and runs each in the background. */
    const runRequests: Effect.Effect<void> = store.takeRequests(options.instanceId).pipe(
      Effect.flatMap(Effect.forEach((request) => options.runInBackground(answer(request)), { discard: true })),
      Effect.catchAllCause((cause) => Effect.logWarning("taking forwarded syncs failed", cause))
    )

    /**
     * A manual sync of a repository another live instance holds, run there: queued for it, and awaited here at most
     * `wait`. None when no other live instance holds it (the caller syncs).
     */
    const forward = (id: RepositoryId, label: string, full: boolean, wait: Duration.Duration) =>
      Effect.gen(function*() {
        const queued = yield* store.enqueueRequest(id, full, options.instanceId, options.channel)
        if (Option.isNone(queued)) return Option.none<SyncResult>()
        yield* Effect.logDebug(`forwarded a sync of ${label} to ${queued.value.owner}`)
        const deadline = (yield* Clock.currentTimeMillis) + Duration.toMillis(wait)
        while (true) {
          const outcome = yield* store.requestOutcome(queued.value.id)
          if (Option.isSome(outcome)) {
            const { error, result, startedBy } = outcome.value
            if (error !== null) {
              return yield* new ForwardedSyncFailed({
                instance: startedBy ?? queued.value.owner,
                tag: error.tag,
                reason: error.message
              })
            }
            return Option.some(yield* decodeResult(result).pipe(Effect.orDie))
          }
          const left = deadline - (yield* Clock.currentTimeMillis)
          if (left <= 0) return yield* new SyncWaitExceeded({ repository: label, waitedMs: Duration.toMillis(wait) })
          // The owner's notification wakes this at once; the timeout covers a lost one.
          yield* options.leases.awaitRequest(queued.value.id, Duration.millis(Math.min(left, 200)))
        }
      })

    return { runRequests, forward } as const
  })
