import type { CommitId } from "../Domain/Ids.js"
import type {
  Bookmark,
  Change,
  ChangedFile,
  CommitDetails,
  ConflictedCommit,
  Operation,
  Tag,
  Workspace
} from "../Domain/Jj.js"
import type { SyncKind } from "../Domain/Repository.js"
import { operationType } from "../Operations/OperationType.js"

/**
 * The columns of each mirrored table, written once: the staging SQL (JSON keys, `json_to_recordset` types), the
 * merge SQL (`ON CONFLICT ... SET`, the changed-row test) and the tests' view of the tables are derived from these.
 * The migrations created the tables and stay as they were written; a test checks these specs against the database.
 */

/** A column whose value jj reports: its name, its PostgreSQL type, and where it comes from in what jj reported. */
export interface ReadColumn<A> {
  readonly name: string
  readonly type: string
  readonly value: (row: A) => unknown
}

/** A table of rows read from jj: its name, its key inside a repository, and the columns read. */
export interface ReadTable<A> {
  readonly table: string
  /** The key inside a repository (the conflict target, after `repository_id`). */
  readonly key: ReadonlyArray<string>
  /** Columns read from jj, staged from JSON. */
  readonly read: ReadonlyArray<ReadColumn<A>>
}

export interface KindTable<A> extends ReadTable<A> {
  /** The temporary table a sync stages rows in (`LIKE` the table, emptied at each commit). */
  readonly staging: string
  /** Columns the sync derives while merging, with the value they are staged with. */
  readonly derived: ReadonlyArray<{ readonly name: string; readonly staged: string }>
  /** Columns the database fills or the merge keeps as history (timestamps, resolution). */
  readonly kept: ReadonlyArray<string>
}

const column = <A>(name: string, type: string, value: (row: A) => unknown): ReadColumn<A> => ({ name, type, value })

export const changesTable: KindTable<Change> = {
  table: "changes",
  staging: "incoming_changes",
  key: ["commit_id"],
  read: [
    column("commit_id", "text", (c) => c.commitId),
    column("change_id", "text", (c) => c.changeId),
    column("parent_commit_ids", "text[]", (c) => c.parentCommitIds),
    column("description", "text", (c) => c.description),
    column("author_name", "text", (c) => c.author.name),
    column("author_email", "text", (c) => c.author.email),
    column("timestamp", "timestamptz", (c) => c.author.timestamp),
    column("committer_name", "text", (c) => c.committer.name),
    column("committer_email", "text", (c) => c.committer.email),
    column("committer_timestamp", "timestamptz", (c) => c.committer.timestamp),
    column("is_empty", "boolean", (c) => c.isEmpty),
    column("has_conflicts", "boolean", (c) => c.hasConflicts),
    column("is_divergent", "boolean", (c) => c.isDivergent)
  ],
  derived: [],
  kept: []
}

export const bookmarksTable: KindTable<Bookmark> = {
  table: "bookmarks",
  staging: "incoming_bookmarks",
  key: ["name", "remote"],
  read: [
    column("name", "text", (b) => b.name),
    column("remote", "text", (b) => b.remote),
    column("target_commit_ids", "text[]", (b) => b.targetCommitIds),
    column("target_change_id", "text", (b) => b.targetChangeId),
    column("is_conflicted", "boolean", (b) => b.isConflicted),
    column("is_tracked", "boolean", (b) => b.isTracked)
  ],
  derived: [{ name: "is_default", staged: "false" }],
  kept: ["updated_at"]
}

export const operationsTable: KindTable<Operation> = {
  table: "jj_operations",
  staging: "incoming_operations",
  key: ["operation_id"],
  read: [
    column("operation_id", "text", (o) => o.operationId),
    column("parent_operation_ids", "text[]", (o) => o.parentOperationIds),
    column("operation_type", "text", operationType),
    column("description", "text", (o) => o.description),
    column("username", "text", (o) => o.username),
    column("hostname", "text", (o) => o.hostname),
    column("start_time", "timestamptz", (o) => o.startTime),
    column("timestamp", "timestamptz", (o) => o.endTime),
    column("is_snapshot", "boolean", (o) => o.isSnapshot),
    column("workspace_name", "text", (o) => o.workspaceName),
    column("tags", "jsonb", (o) => o.tags)
  ],
  derived: [{ name: "is_undone", staged: "false" }],
  kept: []
}

/** One conflicted path of a conflicted commit: a row of `conflicts`. */
export interface ConflictedPath {
  readonly commit: ConflictedCommit
  readonly file: ConflictedCommit["files"][number]
}

export const conflictsTable: KindTable<ConflictedPath> = {
  table: "conflicts",
  staging: "incoming_conflicts",
  key: ["change_id", "file_path"],
  read: [
    column("change_id", "text", (c) => c.commit.changeId),
    column("commit_id", "text", (c) => c.commit.commitId),
    column("file_path", "text", (c) => c.file.path),
    column("sides", "integer", (c) => c.file.sides)
  ],
  derived: [{ name: "resolved", staged: "false" }],
  kept: ["resolved_at", "detected_at"]
}

export const tagsTable: KindTable<Tag> = {
  table: "tags",
  staging: "incoming_tags",
  key: ["name", "remote"],
  read: [
    column("name", "text", (t) => t.name),
    column("remote", "text", (t) => t.remote),
    column("target_commit_ids", "text[]", (t) => t.targetCommitIds),
    column("target_change_id", "text", (t) => t.targetChangeId),
    column("is_conflicted", "boolean", (t) => t.isConflicted),
    column("is_tracked", "boolean", (t) => t.isTracked)
  ],
  derived: [],
  kept: ["updated_at"]
}

export const workspacesTable: KindTable<Workspace> = {
  table: "workspaces",
  staging: "incoming_workspaces",
  key: ["name"],
  read: [
    column("name", "text", (w) => w.name),
    column("working_copy_commit_id", "text", (w) => w.commitId),
    column("working_copy_change_id", "text", (w) => w.changeId)
  ],
  derived: [],
  kept: ["updated_at"]
}

/** One changed file of a commit: a row of `change_files`. */
export interface CommitFile {
  readonly commitId: CommitId
  readonly file: ChangedFile
}

export const changeFilesTable: ReadTable<CommitFile> = {
  table: "change_files",
  key: ["commit_id", "path"],
  read: [
    column("commit_id", "text", (f) => f.commitId),
    column("path", "text", (f) => f.file.path),
    column("status", "text", (f) => f.file.status),
    column("source_path", "text", (f) => f.file.sourcePath),
    column("lines_added", "integer", (f) => f.file.linesAdded),
    column("lines_removed", "integer", (f) => f.file.linesRemoved)
  ]
}

/** One immediate predecessor of a commit: a row of `commit_predecessors`. */
export interface CommitPredecessor {
  readonly details: CommitDetails
  readonly predecessorCommitId: CommitId
}

export const commitPredecessorsTable: ReadTable<CommitPredecessor> = {
  table: "commit_predecessors",
  key: ["commit_id", "predecessor_commit_id"],
  read: [
    column("commit_id", "text", (p) => p.details.commitId),
    column("predecessor_commit_id", "text", (p) => p.predecessorCommitId),
    column("operation_id", "text", (p) => p.details.operationId)
  ]
}

export const kindTables = {
  changes: changesTable,
  bookmarks: bookmarksTable,
  operations: operationsTable,
  conflicts: conflictsTable,
  tags: tagsTable,
  workspaces: workspacesTable
} as const satisfies Record<SyncKind, KindTable<never>>

/** Every column of the table, `repository_id` first. */
export const allColumns = (spec: KindTable<never>): ReadonlyArray<string> => [
  "repository_id",
  ...spec.read.map((c) => c.name),
  ...spec.derived.map((c) => c.name),
  ...spec.kept
]

/** Read columns that are not part of the key: what an upsert may change. */
export const valueColumns = (spec: ReadTable<never>): ReadonlyArray<string> =>
  spec.read.map((c) => c.name).filter((name) => !spec.key.includes(name))

/** A batch as JSON objects keyed by column name, for `json_to_recordset`. */
export const toRecords = <A>(spec: ReadTable<A>, batch: ReadonlyArray<A>): ReadonlyArray<Record<string, unknown>> =>
  batch.map((row) => {
    const record: Record<string, unknown> = {}
    for (const c of spec.read) record[c.name] = c.value(row)
    return record
  })

/** `r(name type, ...)`: the record type of `json_to_recordset`. */
export const recordType = (spec: ReadTable<never>): string =>
  `r(${spec.read.map((c) => `${c.name} ${c.type}`).join(", ")})`

/** `a = excluded.a, ...` for the given columns. */
export const setFromExcluded = (columns: ReadonlyArray<string>): string =>
  columns.map((name) => `${name} = excluded.${name}`).join(", ")

/** `(t.a, ...) IS DISTINCT FROM (excluded.a, ...)`: whether an upsert would change the stored row. */
export const differsFromExcluded = (table: string, columns: ReadonlyArray<string>): string =>
  `(${columns.map((name) => `${table}.${name}`).join(", ")}) IS DISTINCT FROM (${
    columns.map((name) => `excluded.${name}`).join(", ")
  })`
