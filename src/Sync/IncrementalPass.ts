import type { SqlError } from "@effect/sql/SqlError"
import { Array as Arr, Effect, Stream } from "effect"
import type { Changed } from "../Domain/Events.js"
import type { OperationId } from "../Domain/Ids.js"
import type { Change, Operation, Workspace } from "../Domain/Jj.js"
import { JjOutputInvalid } from "../Domain/JjErrors.js"
import type { JjError, PreviousOperationMissing, PreviousOperationUnrelated } from "../Domain/JjErrors.js"
import type { KindCounts, SyncKind } from "../Domain/Repository.js"
import { emptyCounts } from "../Domain/Sync.js"
import type { OperationDiffItem, PreviousHeads } from "../JjClient/OperationDiff.js"
import type { CommitFields } from "../JjClient/Templates.js"
import { advanceUndoState, movesUndoState, undoNode } from "../Operations/UndoState.js"
import type { OperationNode } from "../Operations/UndoState.js"
import { listingDigest } from "./BookmarksDigest.js"
import type { MergeScope, StoredRefs } from "./MirrorWriter.js"
import { flushStaged, knowUndoState, mergeAll, stageAll, stageBatches, stageConflicts } from "./Pass.js"
import type { Pass } from "./Pass.js"
import { keptHeads, nextVisibleHeads, noteHeadStatuses } from "./VisibleHeads.js"
import type { HeadStatuses, KeptHeads } from "./VisibleHeads.js"

export interface IncrementalPassResult {
  readonly written: KindCounts
  /** What moved, for the sync's event. */
  readonly changed: Changed
  /** The digest of jj's bookmark listing: read now, or the stored one when bookmarks were not read. */
  readonly bookmarksDigest: string | null
  /** Bookmarks or tags were read and merged (so whether a `git` export is pending is to be computed again). */
  readonly refsRead: boolean
  /** Rows added net per kind, to keep the stored row counts. */
  readonly added: KindCounts
  /** The visible heads at the pinned operation, as the mirror keeps them. */
  readonly visibleHeads: KeptHeads
}

/**
 * Whether an operation may have moved `git` remote bookmarks without moving any other (which jj's diff would show):
 * a git command (import, export, fetch, push…), an undo, redo, restore or revert, or a merge of concurrent ones.
 */
const unusual = (operation: Operation) => movesUndoState(undoNode(operation)) || /\bgit\b/.test(operation.description)

/**
 * Reads only what changed since `since`, from jj's diff of the two operations: commits that appeared or went away,
 * the operations newer than it (the pinned one from the diff itself when it is the next; else a walk of the log),
 * and the conflicts of the commits that appeared (with the other conflicted commits of their changes). Bookmarks are
 * read only when the diff says one changed or an operation may have moved `git` refs alone; then jj's listing is
 * digested as printed, and when the digest equals `storedBookmarksDigest` (what the last sync read) none is staged
 * or compared, else they are all staged and only their differences written.
 */
export const incrementalPass = (
  pass: Pass,
  since: OperationId,
  stored: StoredRefs,
  sinceHeads: KeptHeads | null
): Effect.Effect<IncrementalPassResult, JjError | PreviousOperationMissing | PreviousOperationUnrelated | SqlError> =>
  Effect.gen(function*() {
    const { id, jj, kinds, location, operationId, writer } = pass
    const staged = emptyCounts()
    const difference = { hiddenCommitIds: [] as Array<string>, touchedChangeIds: [] as Array<string> }
    const scopes: Record<SyncKind, MergeScope | "unchanged"> = {
      changes: difference,
      bookmarks: "all",
      operations: difference,
      conflicts: difference,
      tags: "all",
      workspaces: "all"
    }
    const conflicted: Array<string> = []
    const hidden = new Set<string>()
    let hiddenConflicted = false
    // Merges that appeared, until their emptiness is read.
    const pending = new Map<string, CommitFields>()
    let to: Operation | undefined
    let bookmarksChanged = false
    let tagsChanged = false
    // Each workspace whose `@` changed: its new working-copy commit, or null when it was forgotten.
    const workingCopies = new Map<string, Omit<Workspace, "name"> | null>()
    // What the diff says of visible heads, for those at the pinned operation.
    const headStatuses: HeadStatuses = new Map()
    /** Notes what a commit of the diff touched and returns it when it appeared with all its fields. */
    const appeared = (item: OperationDiffItem): ReadonlyArray<Change> => {
      if (item._tag === "To") to = item.operation
      if (item._tag === "BookmarksChanged") bookmarksChanged = true
      if (item._tag === "TagsChanged") tagsChanged = true
      if (item._tag === "WorkingCopy") workingCopies.set(item.workspace, item.commit)
      if (item._tag !== "Commit") return []
      noteHeadStatuses(headStatuses, item.commit)
      const { added } = item
      const commit = item.commit.listed
      const fields = "change" in commit ? commit.change : commit.pending
      // A removed commit that is still visible is the predecessor of a rewritten one: it did not change.
      if (!added && !commit.hidden) return []
      if (!added || commit.hidden) {
        if (!hidden.has(fields.commitId)) {
          if (fields.hasConflicts) hiddenConflicted = true
          hidden.add(fields.commitId)
          difference.hiddenCommitIds.push(fields.commitId)
          difference.touchedChangeIds.push(fields.changeId)
        }
        return []
      }
      difference.touchedChangeIds.push(fields.changeId)
      if (fields.hasConflicts) conflicted.push(fields.commitId)
      if ("change" in commit) return [commit.change]
      pending.set(fields.commitId, fields)
      return []
    }
    const stageAppeared = (changes: ReadonlyArray<Change>) =>
      kinds.includes("changes") && changes.length > 0 ? writer.stageChanges(id, changes) : Effect.void
    // The heads of `since`, as the diff can name them: with many, the working copies the mirror holds at `since`.
    const previousHeads: PreviousHeads = sinceHeads === null
      ? { _tag: "Loaded" }
      : sinceHeads !== "many"
      ? { _tag: "Named", heads: sinceHeads }
      : { _tag: "WorkingCopies", commitIds: kinds.includes("workspaces") ? stored.workingCopyCommitIds : [] }
    // One jj process says what changed: most syncs need no other. A small diff comes whole, and is staged from memory.
    yield* Effect.scoped(Effect.flatMap(
      jj.operationDiff(location, operationId, since, previousHeads),
      (diff) =>
        diff._tag === "Whole"
          ? stageAll(pass, staged, "changes", diff.items.flatMap(appeared), stageAppeared)
          : stageBatches(pass, staged, "changes", Stream.mapConcat(diff.items, appeared), stageAppeared)
    ))
    if (to === undefined) {
      return yield* new JjOutputInvalid({
        args: ["operation", "diff"],
        line: "",
        reason: "no operation after \"To operation:\""
      })
    }
    if (pending.size > 0 && kinds.includes("changes")) {
      yield* stageBatches(pass, staged, "changes", jj.pendingMerges(location, operationId, pending), stageAppeared)
    }
    const pinnedOperation: Operation = to
    // The common case: the pinned operation is the one after `since`, and the diff printed it whole.
    const oneStep = pinnedOperation.parentOperationIds.length === 1 && pinnedOperation.parentOperationIds[0] === since
    let digest = stored.bookmarksDigest
    // Conflicts of the commits that appeared and of the other conflicted commits of their changes, read once the
    // changes are staged; all of them when changes are not mirrored.
    const conflicts = Effect.gen(function*() {
      // A commit's conflicts never change for its id: when no commit that appeared or went away has any, the
      // conflicted commits of every change are what they were, and so are the conflicts.
      if (kinds.includes("changes") && conflicted.length === 0 && !hiddenConflicted) {
        scopes.conflicts = "unchanged"
        return
      }
      const commitIds = kinds.includes("changes")
        ? Arr.dedupe([...conflicted, ...(yield* pass.onConnection(writer.conflictedSiblings(id, difference)))])
        : undefined
      if (yield* stageConflicts(pass, staged, commitIds)) scopes.conflicts = "all"
    })
    const stageOperations = (batch: ReadonlyArray<Operation>) =>
      kinds.includes("operations") ? writer.stageOperations(id, batch) : Effect.void
    /** Reads the new operations (staged when mirrored); says whether one of them may have moved `git` refs alone. */
    const operations = Effect.gen(function*() {
      if (oneStep) {
        yield* stageAll(pass, staged, "operations", [pinnedOperation], stageOperations)
        return { walked: [undoNode(pinnedOperation)], unusual: unusual(pinnedOperation), recomputed: false }
      }
      // Walk the log from the head until every path back has reached a stored operation and `since` was seen. When
      // `since` is not an ancestor of the head (concurrent operations), the walk reads the whole log and the table is
      // made equal to it.
      const frontier = new Set<string>([operationId])
      const graph: Array<OperationNode> = []
      let sinceSeen = false
      let anyUnusual = false
      yield* stageBatches(
        pass,
        staged,
        "operations",
        jj.operations(location, operationId).pipe(
          Stream.mapEffect((operation) =>
            Effect.gen(function*() {
              graph.push(undoNode(operation))
              if (operation.operationId !== since && unusual(operation)) anyUnusual = true
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
        stageOperations
      )
      if (!sinceSeen && kinds.includes("operations")) {
        scopes.operations = "all"
        yield* flushStaged(pass)
        yield* pass.onConnection(writer.markUndone([...knowUndoState(pass, graph)]))
      }
      return { walked: graph, unusual: sinceSeen ? anyUnusual : true, recomputed: !sinceSeen }
    })
    // Operations are read when mirrored, or when bookmarks or tags need to know whether an operation moved `git` refs.
    const needOperations = kinds.includes("operations") || (kinds.includes("bookmarks") && !bookmarksChanged) ||
      (kinds.includes("tags") && !tagsChanged)
    const read = needOperations ? yield* operations : { walked: [], unusual: true, recomputed: true }
    // jj's diff leaves out the `git` remote: bookmarks are listed when the diff says one changed, or when an
    // operation may have moved `git` refs alone (a git command, an undo or restore, concurrent operations, or any
    // operation while an export is pending).
    const refsMayHaveMoved = read.unusual || stored.gitExportPending
    const bookmarks = Effect.gen(function*() {
      if (!bookmarksChanged && !refsMayHaveMoved) {
        scopes.bookmarks = "unchanged"
        return
      }
      const printed = yield* jj.bookmarkListing(location, operationId)
      digest = listingDigest(printed)
      if (digest === stored.bookmarksDigest) scopes.bookmarks = "unchanged"
      else {
        yield* stageAll(
          pass,
          staged,
          "bookmarks",
          yield* jj.decodeBookmarks(printed),
          (batch) => writer.stageBookmarks(id, batch)
        )
      }
    })
    // Tags follow the bookmarks' rule; workspaces are listed when a working copy changed, which the diff always says.
    const tags = !tagsChanged && !refsMayHaveMoved
      ? Effect.sync(() => (scopes.tags = "unchanged"))
      : stageBatches(pass, staged, "tags", jj.tags(location, operationId), (batch) => writer.stageTags(id, batch))
    // Workspaces come from the diff itself: each one whose working copy changed, with its new `@` or its absence.
    const workspaces = Effect.gen(function*() {
      if (workingCopies.size === 0) {
        scopes.workspaces = "unchanged"
        return
      }
      const present = [...workingCopies].flatMap(([name, commit]) => commit === null ? [] : [{ name, ...commit }])
      scopes.workspaces = {
        removedNames: [...workingCopies].flatMap(([name, commit]) => commit === null ? [name] : [])
      }
      yield* stageAll(pass, staged, "workspaces", present, (batch) => writer.stageWorkspaces(id, batch))
    })
    // Kept since the last sync, the heads follow from the diff; unknown, jj lists them (once: the next sync knows
    // them); "many" stays so until a full sync.
    let visibleHeads: KeptHeads = "many"
    const readers: Array<Effect.Effect<unknown, JjError | SqlError>> = [
      sinceHeads === null
        ? Effect.map(jj.visibleHeads(location, operationId), (heads) => (visibleHeads = keptHeads(heads)))
        : Effect.sync(
          () => (visibleHeads = sinceHeads === "many" ? "many" : nextVisibleHeads(sinceHeads, headStatuses))
        )
    ]
    if (kinds.includes("bookmarks")) readers.push(bookmarks)
    if (kinds.includes("tags")) readers.push(tags)
    if (kinds.includes("workspaces")) readers.push(workspaces)
    if (kinds.includes("conflicts")) readers.push(conflicts)
    yield* Effect.all(readers, { concurrency: "unbounded", discard: true })
    const { added, changed, written } = yield* mergeAll(pass, staged, scopes)
    // Undo state only moves with an undo, redo, restore or revert, or when concurrent operations merge. Known at
    // `since` (kept by this process), it is carried forward and only the operations whose status changed are written;
    // else the whole graph is read from the mirror once, and every operation's status compared.
    if (kinds.includes("operations") && !read.recomputed) {
      const known = pass.undo.known?.head === since ? pass.undo.known : undefined
      // Taken while it grows: a sync that fails before putting it back leaves nothing half-advanced behind.
      pass.undo.known = undefined
      if (known !== undefined) {
        const { changed, state } = advanceUndoState(known, read.walked, operationId, pass.undo.facts)
        pass.undo.known = state
        written.operations += yield* writer.setUndoneOf(id, changed)
      } else if (read.walked.some((node) => node.id !== since && movesUndoState(node))) {
        const graph = yield* writer.operationGraph(id)
        written.operations += yield* writer.setUndone(id, [...knowUndoState(pass, graph)])
      }
    }
    const refsRead = (kinds.includes("bookmarks") && scopes.bookmarks !== "unchanged") ||
      (kinds.includes("tags") && scopes.tags !== "unchanged")
    return { written, added, changed, bookmarksDigest: digest, refsRead, visibleHeads }
  }).pipe(Effect.withSpan("Sync.incrementalPass"))
