import type { SqlError } from "@effect/sql/SqlError"
import { Array as Arr, Chunk, Effect, Stream } from "effect"
import type { OperationId } from "../Domain/Ids.js"
import type { Bookmark, Change } from "../Domain/Jj.js"
import type { JjError, PreviousOperationMissing, PreviousOperationUnrelated } from "../Domain/JjErrors.js"
import type { KindCounts, SyncKind } from "../Domain/Repository.js"
import { emptyCounts } from "../Domain/Sync.js"
import type { CommitFields } from "../JjClient/Templates.js"
import { operationKind, undoneOperations, undoNode } from "../Operations/UndoState.js"
import type { OperationNode } from "../Operations/UndoState.js"
import { bookmarksDigest, listingDigest, listsBookmarksApart } from "./BookmarksDigest.js"
import type { MergeScope } from "./MirrorWriter.js"
import { mergeAll, stageBatches, stageConflicts } from "./Pass.js"
import type { Pass } from "./Pass.js"

export interface IncrementalPassResult {
  readonly written: KindCounts
  /** The digest of the bookmarks read; null when bookmarks are not mirrored. */
  readonly bookmarksDigest: string | null
  /** Rows added net per kind, to keep the stored row counts. */
  readonly added: KindCounts
}

/**
 * Reads only what changed since `since`: commits that appeared or went away, operations newer than it, and
 * conflicts of the commits that appeared (with the other conflicted commits of their changes). Bookmarks are listed
 * whole, with the difference or apart (see `BookmarksDigest`); when their digest equals `storedBookmarksDigest` (what
 * the last sync read), none is staged or compared, else they are all staged and only their differences written.
 */
export const incrementalPass = (
  pass: Pass,
  since: OperationId,
  storedBookmarksDigest: string | null
): Effect.Effect<IncrementalPassResult, JjError | PreviousOperationMissing | PreviousOperationUnrelated | SqlError> =>
  Effect.gen(function*() {
    const { id, jj, kinds, location, operationId, writer } = pass
    const staged = emptyCounts()
    const difference = { hiddenCommitIds: [] as Array<string>, touchedChangeIds: [] as Array<string> }
    const scopes: Record<SyncKind, MergeScope | "unchanged"> = {
      changes: difference,
      bookmarks: "all",
      operations: difference,
      conflicts: difference
    }
    const conflicted: Array<string> = []
    let digest: string | null = null
    /** Notes what a changed commit touched and returns it when it appeared. */
    const appeared = (line: { readonly fields: CommitFields; readonly appeared: Change | undefined }) => {
      difference.touchedChangeIds.push(line.fields.changeId)
      if (line.appeared === undefined) {
        difference.hiddenCommitIds.push(line.fields.commitId)
        return []
      }
      if (line.appeared.hasConflicts) conflicted.push(line.appeared.commitId)
      return [line.appeared]
    }
    const stageAppeared = (changes: ReadonlyArray<Change>) =>
      changes.length > 0 ? writer.stageChanges(id, changes) : Effect.void
    // With few bookmarks, one jj process lists the difference and every bookmark (a process fewer is most of such a
    // sync's cost); each bookmark is kept once and staged at the end. With many (the last sync stored a `listing:`
    // digest), listing every target with the difference costs more than jj's bookmark listing in a second process,
    // whose output is digested as printed and decoded only when it changed.
    const apart = kinds.includes("bookmarks") && listsBookmarksApart(storedBookmarksDigest)
    const inline = kinds.includes("bookmarks") && !apart
    const stageBookmarks = (bookmarks: Iterable<Bookmark>) =>
      stageBatches(
        pass,
        staged,
        "bookmarks",
        Stream.fromIterable(bookmarks),
        (batch) => writer.stageBookmarks(id, batch)
      )
    const listing = Effect.gen(function*() {
      const bookmarks = new Map<string, Bookmark>()
      yield* stageBatches(
        pass,
        staged,
        "changes",
        jj.changedCommits(location, operationId, since, inline).pipe(
          Stream.mapChunks((lines) => {
            if (inline) {
              for (const line of lines) {
                for (const bookmark of line.bookmarks) {
                  bookmarks.set(JSON.stringify([bookmark.name, bookmark.remote]), bookmark)
                }
              }
            }
            return Chunk.filter(lines, (line) => line.inDifference)
          })
        ),
        (batch) => kinds.includes("changes") ? stageAppeared(batch.flatMap(appeared)) : Effect.void
      )
      if (inline) {
        digest = bookmarksDigest(bookmarks.values())
        if (digest === storedBookmarksDigest) scopes.bookmarks = "unchanged"
        else yield* stageBookmarks(bookmarks.values())
      }
    })
    const bookmarksApart = Effect.gen(function*() {
      const printed = yield* jj.bookmarkListing(location, operationId)
      digest = listingDigest(printed)
      if (digest === storedBookmarksDigest) scopes.bookmarks = "unchanged"
      else yield* stageBookmarks(yield* jj.decodeBookmarks(printed))
    })
    // Conflicts of the commits that appeared and of the other conflicted commits of their changes, read once the
    // changes are staged; all of them when changes are not mirrored.
    const conflicts = Effect.gen(function*() {
      const commitIds = kinds.includes("changes")
        ? Arr.dedupe([...conflicted, ...(yield* pass.onConnection(writer.conflictedSiblings(id, difference)))])
        : undefined
      if (yield* stageConflicts(pass, staged, commitIds)) scopes.conflicts = "all"
    })
    const operations = Effect.gen(function*() {
      // Walk the log from the head until every path back has reached a stored operation and `since` was seen. When
      // `since` is not an ancestor of the head (concurrent operations), the walk reads the whole log and the table is
      // made equal to it.
      const frontier = new Set<string>([operationId])
      const graph: Array<OperationNode> = []
      let sinceSeen = false
      yield* stageBatches(
        pass,
        staged,
        "operations",
        jj.operations(location, operationId).pipe(
          Stream.mapEffect((operation) =>
            Effect.gen(function*() {
              graph.push(undoNode(operation))
              if (operation.operationId === since) {
                sinceSeen = true
                frontier.delete(operation.operationId)
              } else if (frontier.delete(operation.operationId)) {
                const stored = sinceSeen && (yield* pass.onConnection(writer.hasOperation(id, operation.operationId)))
                if (!stored) { for (const parent of operation.parentOperationIds) frontier.add(parent) }
              }
              return { operation, done: sinceSeen && frontier.size === 0 }
            })
          ),
          Stream.takeUntil(({ done }) => done),
          Stream.map(({ operation }) => operation)
        ),
        (batch) => writer.stageOperations(id, batch)
      )
      if (!sinceSeen) {
        scopes.operations = "all"
        yield* pass.onConnection(writer.markUndone([...undoneOperations(graph, operationId)]))
      }
      // Undo state only moves with an undo, redo, restore or revert, or when concurrent operations merge.
      return sinceSeen &&
        graph.some((node) =>
          node.id !== since && (operationKind(node.description)._tag !== "Plain" || node.parentIds.length > 1)
        )
    })
    let recomputeUndone = false
    const readers: Array<
      Effect.Effect<void, JjError | PreviousOperationMissing | PreviousOperationUnrelated | SqlError>
    > = []
    if (apart) readers.push(bookmarksApart)
    if (kinds.includes("changes") || inline) {
      // Conflicts follow the commits the listing staged; without changes they are all read, in parallel.
      readers.push(
        kinds.includes("changes") && kinds.includes("conflicts") ? Effect.zipRight(listing, conflicts) : listing
      )
    }
    if (kinds.includes("conflicts") && !kinds.includes("changes")) readers.push(conflicts)
    if (kinds.includes("operations")) {
      readers.push(Effect.map(operations, (recompute) => {
        recomputeUndone = recompute
      }))
    }
    yield* Effect.all(readers, { concurrency: "unbounded", discard: true })
    const { added, written } = yield* mergeAll(pass, staged, scopes)
    if (recomputeUndone) {
      const graph = yield* writer.operationGraph(id)
      written.operations += yield* writer.setUndone(id, [...undoneOperations(graph, operationId)])
    }
    return { written, added, bookmarksDigest: digest }
  }).pipe(Effect.withSpan("Sync.incrementalPass"))
