import type { SqlError } from "@effect/sql/SqlError"
import { Array as Arr, Clock, Config, Effect, Stream } from "effect"
import os from "node:os"
import { DetailsStore } from "./DetailsFill/Store.js"
import type { PendingBatch } from "./DetailsFill/Store.js"
import { CommitDetailsIncomplete } from "./Domain/CommitDetails.js"
import type { DetailsFilled, DetailsProgress } from "./Domain/CommitDetails.js"
import type { CommitId, RepositoryId } from "./Domain/Ids.js"
import type { CommitDetails } from "./Domain/Jj.js"
import type { JjError, RepositoryError } from "./Domain/JjErrors.js"
import type { Lease, LeaseLost } from "./Domain/Lease.js"
import type { RepositoryRowNotFound } from "./Domain/Repository.js"
import { JjClient } from "./JjClient.js"
import { Repositories } from "./Repositories.js"

export const DetailsConfig = Config.all({
  /** Commits per jj process: bounds each process's memory and each transaction's size. */
  batchSize: Config.integer("DETAILS_BATCH_SIZE").pipe(
    Config.withDefault(500),
    Config.validate({ message: "DETAILS_BATCH_SIZE must be at least 1", validation: (n) => n >= 1 })
  ),
  /** jj processes reading details at once, per repository. */
  readers: Config.integer("DETAILS_READERS").pipe(
    Config.withDefault(Math.max(1, Math.min(2, os.availableParallelism()))),
    Config.validate({ message: "DETAILS_READERS must be at least 1", validation: (n) => n >= 1 })
  )
})

export type DetailsError =
  | JjError
  | RepositoryError
  | RepositoryRowNotFound
  | SqlError
  | CommitDetailsIncomplete
  | LeaseLost

/**
 * The details fill: reads what never changes for a commit id besides its fields — the files it changed, with line
 * counts, and its predecessors — for the commits a sync brought (`commit_details_pending`), after that sync
 * committed, in bounded batches of `DETAILS_BATCH_SIZE` commits, `DETAILS_READERS` jj processes at a time, each
 * batch committed on its own. Line counts make this the costly part of a first import, so the commits, bookmarks
 * and the rest are never held back by it; `repositories.files_complete` says when every mirrored commit has its
 * details.
 */
export class DetailsFill extends Effect.Service<DetailsFill>()("jj-watcher/DetailsFill", {
  effect: Effect.gen(function*() {
    const config = yield* DetailsConfig
    const jj = yield* JjClient
    const store = yield* DetailsStore
    const repositories = yield* Repositories

    /**
     * Reads the details of every commit of the repository that waits for them, until a batch comes back short (the
     * commits a sync queues meanwhile are the next fill's, which that sync asks for); `onProgress` hears after each
     * batch. A batch reads at the operation the mirror was synced to when the batch was taken. With a `lease`, a batch
     * is written only while this instance still holds it (fencing, as for syncs).
     */
    const fill = Effect.fn("DetailsFill.fill")(function*(
      id: RepositoryId,
      onProgress: (progress: DetailsProgress) => Effect.Effect<void> = () => Effect.void,
      lease?: Lease
    ) {
      const started = yield* Clock.currentTimeMillis
      const repository = yield* repositories.getById(id)
      const wanted = repository.enabledDetails
      const filled = { commits: 0, files: 0, predecessors: 0 }
      const limit = config.batchSize * config.readers
      let pending: number | null = null
      for (let full = true; full;) {
        const batch: PendingBatch | undefined = yield* store.nextBatch(id, limit, pending === null)
        if (batch === undefined || batch.commitIds.length === 0 || batch.operationId === null) break
        full = batch.commitIds.length === limit
        pending ??= batch.pending
        const location = yield* jj.locate(batch.path)
        const operationId = batch.operationId
        yield* Effect.forEach(
          Arr.chunksOf(batch.commitIds, config.batchSize),
          (commitIds) =>
            Effect.gen(function*() {
              // With neither kind mirrored, the commits only stop waiting.
              const read: ReadonlyArray<CommitDetails> = wanted.files || wanted.predecessors
                ? yield* Stream.runCollect(jj.commitDetails(location, operationId, commitIds, wanted)).pipe(
                  Effect.map(Arr.fromIterable)
                )
                : commitIds.map((commitId) => ({
                  commitId: commitId as CommitId,
                  operationId: null,
                  predecessorCommitIds: [],
                  files: []
                }))
              if (read.length !== commitIds.length) {
                const got = new Set<string>(read.map((details) => details.commitId))
                return yield* new CommitDetailsIncomplete({
                  path: batch.path,
                  operationId,
                  missing: commitIds.filter((commitId) => !got.has(commitId)).slice(0, 10)
                })
              }
              const written = yield* store.write(id, read, lease)
              filled.commits += commitIds.length
              filled.files += written.files
              filled.predecessors += written.predecessors
              yield* onProgress({ commits: filled.commits, pending: pending ?? filled.commits })
            }),
          { concurrency: config.readers, discard: true }
        )
      }
      const finished = yield* Clock.currentTimeMillis
      return { ...filled, durationMs: finished - started } satisfies DetailsFilled
    })

    return { fill, counts: store.counts, incomplete: store.incomplete } as const
  }),
  dependencies: [DetailsStore.Default, JjClient.Default, Repositories.Default]
}) {}
