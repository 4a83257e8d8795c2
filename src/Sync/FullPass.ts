import type { SqlError } from "@effect/sql/SqlError"
import { Effect, Option, Ref, Stream } from "effect"
import type { Changed } from "../Domain/Events.js"
import type { Change } from "../Domain/Jj.js"
import type { JjError } from "../Domain/JjErrors.js"
import type { KindCounts } from "../Domain/Repository.js"
import { emptyCounts } from "../Domain/Sync.js"
import { undoNode } from "../Operations/UndoState.js"
import type { OperationNode } from "../Operations/UndoState.js"
import { listingDigest } from "./BookmarksDigest.js"
import type { MergeScope } from "./MirrorWriter.js"
import { flushStaged, knowUndoState, mergeAll, stageAll, stageBatches, stageConflicts } from "./Pass.js"
import type { Pass } from "./Pass.js"
import { compareVisible } from "./Visibility.js"
import { keptHeads } from "./VisibleHeads.js"
import type { KeptHeads } from "./VisibleHeads.js"

export interface FullPassResult {
  readonly written: KindCounts
  /** What moved, for the sync's event. */
  readonly changed: Changed
  /** The digest of the bookmarks read; null when bookmarks are not mirrored. */
  readonly bookmarksDigest: string | null
  /** Bookmarks or tags were read and merged. */
  readonly refsRead: boolean
  /** The changes reader stopped at `WATCHER_MAX_CHANGES`. */
  readonly changesTruncated: boolean
  /** The visible heads at the pinned operation, as the mirror keeps them. */
  readonly visibleHeads: KeptHeads
}

/**
 * How a full pass reads commits: every field of every visible commit, or (`ids`) jj's visible ids and divergence
 * compared with what the mirror holds, fields read only for the commits it lacks. A commit's fields never change for
 * its id, so `ids` is exact whenever the mirror was written the same way (same fingerprint).
 */
export type CommitRead = "fields" | "ids"

/** Above this many missing commits a comparison by ids reads every commit instead of naming the missing ones. */
const maxNamedMissing = 5_000

/**
 * Reads everything at the pinned operation and makes the tables equal to it: every visible commit, every bookmark
 * and tag, every workspace, the whole operation log (with its undo state), and the conflicts of the conflicted
 * commits.
 */

export const fullPass = (pass: Pass, commitRead: CommitRead): Effect.Effect<FullPassResult, JjError | SqlError> =>
  Effect.gen(function*() {
    const { id, jj, kinds, location, operationId, writer } = pass
    const staged = emptyCounts()
    const truncated = yield* Ref.make(false)
    const undoGraph: Array<OperationNode> = []
    const limitChanges = <A, E>(stream: Stream.Stream<A, E>) =>
      Option.match(pass.maxChanges, {
        onNone: () => stream,
        onSome: (max) =>
          stream.pipe(
            Stream.take(max + 1),
            Stream.zipWithIndex,
            Stream.tap(([, index]) => index === max ? Ref.set(truncated, true) : Effect.void),
            Stream.filter(([, index]) => index < max),
            Stream.map(([change]) => change)
          )
      })
    // An empty mirror (a first import) gets its changes written directly, with no staging and merging.
    const direct = kinds.includes("changes") && (yield* writer.hasNoChanges(id))
    const conflicted: Array<string> = []
    let changesScope: MergeScope = "all"
    const stageListed = (listed: Stream.Stream<Change, JjError>) =>
      stageBatches(pass, staged, "changes", listed, (batch) => {
        for (const change of batch) if (change.hasConflicts) conflicted.push(change.commitId)
        return writer.stageChanges(id, batch, direct)
      })
    // Compared by ids: the listing of visible ids and the mirror's commits are read at once, then only the missing
    // commits are read in full; too many missing, and every commit is read as in a first import.
    const compared = Effect.gen(function*() {
      const [visible, held] = yield* Effect.all([
        Stream.runCollect(jj.visibleCommits(location, operationId)),
        pass.onConnection(writer.heldCommits(id))
      ], { concurrency: 2 })
      const difference = compareVisible(visible, held)
      if (difference.missing.length > maxNamedMissing) return yield* stageListed(jj.changes(location, operationId))
      conflicted.push(...difference.conflicted)
      const touchedChangeIds = [...difference.touchedChangeIds]
      yield* stageListed(
        jj.changesNamed(location, operationId, difference.missing).pipe(
          Stream.tap((change) => Effect.sync(() => touchedChangeIds.push(change.changeId)))
        )
      )
      changesScope = { hiddenCommitIds: difference.gone, touchedChangeIds }
    })
    const changes = commitRead === "ids" && !direct && Option.isNone(pass.maxChanges)
      ? compared
      : stageListed(limitChanges(jj.changes(location, operationId)))
    let visibleHeads: KeptHeads = "many"
    const readers: Array<Effect.Effect<unknown, JjError | SqlError>> = [
      Effect.map(jj.visibleHeads(location, operationId), (heads) => (visibleHeads = keptHeads(heads)))
    ]
    // Conflicts are read for the conflicted commits the changes reader saw, unless it stopped early.
    if (kinds.includes("changes")) {
      readers.push(
        kinds.includes("conflicts")
          ? Effect.zipRight(
            changes,
            Effect.flatMap(
              Ref.get(truncated),
              (stopped) => stageConflicts(pass, staged, stopped ? undefined : conflicted)
            )
          )
          : changes
      )
    } else if (kinds.includes("conflicts")) {
      readers.push(stageConflicts(pass, staged, undefined))
    }
    let digest: string | null = null
    if (kinds.includes("bookmarks")) {
      readers.push(Effect.gen(function*() {
        const listing = yield* jj.bookmarkListing(location, operationId)
        const bookmarks = yield* jj.decodeBookmarks(listing)
        digest = listingDigest(listing)
        yield* stageAll(pass, staged, "bookmarks", bookmarks, (batch) => writer.stageBookmarks(id, batch))
      }))
    }
    if (kinds.includes("tags")) {
      readers.push(
        stageBatches(pass, staged, "tags", jj.tags(location, operationId), (batch) => writer.stageTags(id, batch))
      )
    }
    if (kinds.includes("workspaces")) {
      readers.push(
        stageBatches(
          pass,
          staged,
          "workspaces",
          jj.workspaces(location, operationId),
          (batch) => writer.stageWorkspaces(id, batch)
        )
      )
    }
    if (kinds.includes("operations")) {
      readers.push(
        stageBatches(
          pass,
          staged,
          "operations",
          jj.operations(location, operationId).pipe(
            Stream.tap((operation) => Effect.sync(() => undoGraph.push(undoNode(operation))))
          ),
          (batch) => writer.stageOperations(id, batch)
        ).pipe(
          Effect.zipRight(
            Effect.suspend(() =>
              Effect.zipRight(
                flushStaged(pass),
                pass.onConnection(writer.markUndone([...knowUndoState(pass, undoGraph)]))
              )
            )
          )
        )
      )
    }
    // The readers run as parallel fibers at the same pinned operation; their batches share this transaction.
    yield* Effect.all(readers, { concurrency: "unbounded", discard: true })
    const { changed, written } = yield* mergeAll(
      pass,
      staged,
      { changes: changesScope, bookmarks: "all", operations: "all", conflicts: "all", tags: "all", workspaces: "all" },
      direct
    )
    return {
      written,
      changed,
      changesTruncated: yield* Ref.get(truncated),
      bookmarksDigest: digest,
      refsRead: kinds.includes("bookmarks") || kinds.includes("tags"),
      visibleHeads
    }
  }).pipe(Effect.withSpan("Sync.fullPass"))
