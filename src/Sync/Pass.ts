import type { SqlError } from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import { Array as Arr, Effect, Stream } from "effect"
import type { Option } from "effect"
import { noItems, nothingChanged } from "../Domain/Events.js"
import type { OperationId, RepositoryId } from "../Domain/Ids.js"
import type { RepositoryLocation } from "../Domain/Jj.js"
import type { KindCounts, SyncKind } from "../Domain/Repository.js"
import { emptyCounts } from "../Domain/Sync.js"
import type { JjClient } from "../JjClient.js"
import { knownUndoState } from "../Operations/UndoState.js"
import type { OperationNode, UndoMemo } from "../Operations/UndoState.js"
import type { Merged, MergeScope, MirrorWriter, Staging } from "./MirrorWriter.js"

/** Above this many commits a conflicts read lists them all instead of naming them in a revset. */
const maxListedCommits = 1_000

/** Rows staged so far per kind; readers add to it as their batches go out. */
export type Staged = Record<SyncKind, number>

/** What a full or incremental pass works with: one repository at one pinned operation, inside one transaction. */
export interface Pass {
  readonly id: RepositoryId
  readonly location: RepositoryLocation
  readonly operationId: OperationId
  readonly kinds: ReadonlyArray<SyncKind>
  readonly batchSize: number
  readonly maxChanges: Option.Option<number>
  readonly jj: JjClient
  readonly writer: MirrorWriter
  /**
   * Runs a statement on the transaction's one connection: the readers are parallel fibers, and their statements
   * take turns on it.
   */
  readonly onConnection: <A, E, R>(statement: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  readonly onProgress: (staged: KindCounts) => Effect.Effect<void>
  /** What earlier syncs of this process computed of the repository's undo state (see `UndoMemo`). */
  readonly undo: UndoMemo
  /**
   * Staging statements held back to run together (`flushStaged`): the last, short batch of each reader, so a
   * one-operation sync stages its few rows of every kind in one statement. At most one batch per reader is held.
   */
  readonly held: Array<Statement.Statement<unknown>>
}

export const makePass = (options: Omit<Pass, "onConnection" | "held">): Effect.Effect<Pass> =>
  Effect.map(
    Effect.makeSemaphore(1),
    (connection) => ({ ...options, onConnection: connection.withPermits(1), held: [] })
  )

/** Runs the held staging statements, as one; before anything reads the staging tables. */
export const flushStaged = (pass: Pass): Effect.Effect<void, SqlError> =>
  Effect.suspend(() =>
    pass.held.length === 0 ? Effect.void : pass.onConnection(pass.writer.stageTogether(pass.held.splice(0)))
  )

/**
 * Stages one batch on the transaction's connection, counting it in `staged`, and reports the progress. A combinable
 * batch shorter than a full one is its reader's last: it is held, to run with the others (`flushStaged`).
 */
const stageBatch = <A>(
  pass: Pass,
  staged: Staged,
  kind: SyncKind,
  batch: ReadonlyArray<A>,
  stage: (batch: ReadonlyArray<A>) => Staging
) => {
  staged[kind] += batch.length
  const staging = stage(batch)
  if (Effect.isEffect(staging)) return Effect.zipRight(pass.onConnection(staging), pass.onProgress(staged))
  if (batch.length < pass.batchSize) {
    pass.held.push(staging.statement)
    return pass.onProgress(staged)
  }
  return Effect.zipRight(pass.onConnection(pass.writer.stageTogether([staging.statement])), pass.onProgress(staged))
}

/** Stages a stream in batches, counting them in `staged`; jj keeps writing the next batches while one is sent. */
export const stageBatches = <A, E>(
  pass: Pass,
  staged: Staged,
  kind: SyncKind,
  stream: Stream.Stream<A, E>,
  stage: (batch: ReadonlyArray<A>) => Staging
): Effect.Effect<void, E | SqlError> =>
  stream.pipe(
    Stream.grouped(pass.batchSize),
    Stream.buffer({ capacity: 2 }),
    Stream.runForEach((chunk) => stageBatch(pass, staged, kind, Arr.fromIterable(chunk), stage))
  )

/**
 * Stages rows already in memory in batches, counting them in `staged`: `stageBatches` without a stream, whose
 * machinery costs more than a one-operation sync's few rows.
 */
export const stageAll = <A>(
  pass: Pass,
  staged: Staged,
  kind: SyncKind,
  rows: ReadonlyArray<A>,
  stage: (batch: ReadonlyArray<A>) => Staging
): Effect.Effect<void, SqlError> =>
  Effect.forEach(Arr.chunksOf(rows, pass.batchSize), (batch) => stageBatch(pass, staged, kind, batch, stage), {
    discard: true
  })

/**
 * Merges every kind the pass mirrors, in a fixed order; `direct` changes were written straight into their table.
 * Returns the rows written and the rows added net per kind.
 */
export const mergeAll = (
  pass: Pass,
  staged: Staged,
  scopes: Record<SyncKind, MergeScope | "unchanged">,
  direct = false
) =>
  Effect.gen(function*() {
    yield* flushStaged(pass)
    const written = emptyCounts()
    const added = emptyCounts()
    let changed = nothingChanged()
    for (const kind of pass.kinds) {
      const scope = scopes[kind]
      // Read and found equal to what was written last time: nothing staged, nothing to merge.
      if (scope === "unchanged") continue
      const merged: Merged = kind === "changes" && direct
        // A first import: every commit appeared; their ids are not listed.
        ? {
          written: staged.changes,
          added: staged.changes,
          changed: { commits: { appeared: { count: staged.changes, items: [] }, gone: noItems() } }
        }
        : yield* pass.writer.merge(pass.id, kind, scope, staged[kind] > pass.batchSize)
      written[kind] = merged.written
      added[kind] = merged.added
      changed = { ...changed, ...merged.changed }
    }
    return { written, added, changed }
  })

/**
 * Stages the conflicts of the named commits, or of every conflicted commit when none are named or too many to name
 * in a revset; says whether it read them all.
 */
export const stageConflicts = (pass: Pass, staged: Staged, commitIds: ReadonlyArray<string> | undefined) => {
  const all = commitIds === undefined || commitIds.length > maxListedCommits
  return stageBatches(
    pass,
    staged,
    "conflicts",
    pass.jj.conflicts(pass.location, pass.operationId, all ? undefined : commitIds),
    (batch) => pass.writer.stageConflicts(pass.id, batch)
  ).pipe(Effect.as(all))
}

/**
 * The undone operations of a whole operation log read at the pass's operation, kept as the pass's known undo state;
 * the undo effects computed before are dropped first, since operations may have been abandoned (`jj op abandon`).
 */
export const knowUndoState = (pass: Pass, log: ReadonlyArray<OperationNode>): ReadonlySet<string> => {
  pass.undo.facts.clear()
  pass.undo.known = knownUndoState(log, pass.operationId, pass.undo.facts)
  return pass.undo.known.undone
}
