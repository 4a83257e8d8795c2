import { Schema } from "effect"
import { ChangeId, CommitId, OperationId } from "./Ids.js"

/** What the readers return: one repository's state at one operation, as jj reports it. */

export const Signature = Schema.Struct({
  name: Schema.String,
  email: Schema.String,
  timestamp: Schema.Date
})
export type Signature = typeof Signature.Type

/** A visible commit. */
export const Change = Schema.Struct({
  commitId: CommitId,
  changeId: ChangeId,
  parentCommitIds: Schema.Array(CommitId),
  description: Schema.String,
  author: Signature,
  committer: Signature,
  isEmpty: Schema.Boolean,
  hasConflicts: Schema.Boolean,
  isDivergent: Schema.Boolean
})
export type Change = typeof Change.Type

/** A visible commit as a comparison with the mirror sees it: its id, and whether its change is divergent. */
export const VisibleCommit = Schema.Struct({ commitId: CommitId, isDivergent: Schema.Boolean })
export type VisibleCommit = typeof VisibleCommit.Type

/** A local bookmark (`remote` is "") or a remote one; several targets when conflicted. */
export const Bookmark = Schema.Struct({
  name: Schema.String,
  remote: Schema.String,
  targetCommitIds: Schema.Array(CommitId),
  targetChangeId: Schema.NullOr(ChangeId),
  isConflicted: Schema.Boolean,
  isTracked: Schema.Boolean
})
export type Bookmark = typeof Bookmark.Type

/** A local tag (`remote` is "") or a remote one: the same shape as a bookmark. */
export const Tag = Bookmark
export type Tag = Bookmark

/** A workspace and its working-copy commit at the operation read. */
export const Workspace = Schema.Struct({
  name: Schema.String,
  commitId: CommitId,
  changeId: ChangeId
})
export type Workspace = typeof Workspace.Type

/** An entry of the operation log. */
export const Operation = Schema.Struct({
  operationId: OperationId,
  parentOperationIds: Schema.Array(OperationId),
  description: Schema.String,
  username: Schema.String,
  hostname: Schema.String,
  startTime: Schema.Date,
  endTime: Schema.Date,
  isSnapshot: Schema.Boolean,
  workspaceName: Schema.String,
  tags: Schema.Record({ key: Schema.String, value: Schema.String })
})
export type Operation = typeof Operation.Type

/** A conflicted visible commit and its conflicted paths. */
export const ConflictedCommit = Schema.Struct({
  commitId: CommitId,
  changeId: ChangeId,
  files: Schema.Array(Schema.Struct({ path: Schema.String, sides: Schema.Int }))
})
export type ConflictedCommit = typeof ConflictedCommit.Type

/** Where a repository lives on disk: the workspace root and the (possibly shared) store. */
export const RepositoryLocation = Schema.Struct({
  workspaceRoot: Schema.String,
  storePath: Schema.String,
  opHeadsPath: Schema.String
})
export type RepositoryLocation = typeof RepositoryLocation.Type

/**
 * The operation a sync reads at. With several op heads (concurrent operations jj has not merged yet) the one that
 * ended last is read, ties broken by the greater id; `heads` lists them all.
 */
export const PinnedOperation = Schema.Struct({
  operationId: OperationId,
  heads: Schema.Array(OperationId)
})
export type PinnedOperation = typeof PinnedOperation.Type

/**
 * A file a commit changed, as jj's diff of the commit against its parents (auto-merged for a merge) reports it:
 * jj's status name, the old path of a rename or copy, and the lines added and removed.
 */
export const ChangedFile = Schema.Struct({
  path: Schema.String,
  status: Schema.String,
  sourcePath: Schema.NullOr(Schema.String),
  linesAdded: Schema.Int,
  linesRemoved: Schema.Int
})
export type ChangedFile = typeof ChangedFile.Type

/**
 * What never changes for a commit id besides its fields: the files it changed, and its immediate predecessors with
 * the operation that made it (the first entry of `jj evolog`; null when jj has no record of that operation).
 */
export const CommitDetails = Schema.Struct({
  commitId: CommitId,
  operationId: Schema.NullOr(OperationId),
  predecessorCommitIds: Schema.Array(CommitId),
  files: Schema.Array(ChangedFile)
})
export type CommitDetails = typeof CommitDetails.Type
