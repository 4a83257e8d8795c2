import { Schema } from "effect"
import { OperationId, RepositoryId } from "./Ids.js"

/**
 * An owner or repository name: the safe character set of a path segment under `REPOS_BASE_PATH`
 * (no `.`/`..`, no slashes, no NUL, nothing that could leave the base directory).
 */
export const RepositoryName = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}$/, {
    message: () => "a name of 1 to 100 characters from A-Z a-z 0-9 . _ -, not starting with . or -"
  }),
  Schema.brand("RepositoryName")
)
export type RepositoryName = typeof RepositoryName.Type

export const SyncKind = Schema.Literal("changes", "bookmarks", "operations", "conflicts", "tags", "workspaces")
export type SyncKind = typeof SyncKind.Type
export const allSyncKinds: ReadonlyArray<SyncKind> = SyncKind.literals

/**
 * What is read once per commit id, after the sync that brought the commit (the details fill): `files` (the
 * `change_files` table) and `predecessors` (`commit_predecessors`). Both hold rows of mirrored commits, so they need
 * `changes`.
 */
export const DetailKind = Schema.Literal("files", "predecessors")
export type DetailKind = typeof DetailKind.Type

/** Every kind a repository can mirror, as `--kind` names them. */
export const MirrorKind = Schema.Literal(...SyncKind.literals, ...DetailKind.literals)
export type MirrorKind = typeof MirrorKind.Type

/** Rows per kind: held by the mirror (open conflicts only), or written by one sync. */
export const KindCounts = Schema.Struct({
  changes: Schema.Number,
  bookmarks: Schema.Number,
  operations: Schema.Number,
  conflicts: Schema.Number,
  tags: Schema.Number,
  workspaces: Schema.Number
})
export type KindCounts = typeof KindCounts.Type

export class Repository extends Schema.Class<Repository>("Repository")({
  id: RepositoryId,
  owner: RepositoryName,
  name: RepositoryName,
  path: Schema.String,
  lastSyncedOperationId: Schema.NullOr(OperationId),
  lastSyncedAt: Schema.NullOr(Schema.DateFromSelf),
  lastError: Schema.NullOr(Schema.String),
  consecutiveFailures: Schema.Int,
  operationHeads: Schema.Array(OperationId),
  changesTruncated: Schema.Boolean,
  syncChanges: Schema.Boolean,
  syncBookmarks: Schema.Boolean,
  syncOperations: Schema.Boolean,
  syncConflicts: Schema.Boolean,
  syncTags: Schema.Boolean,
  syncWorkspaces: Schema.Boolean,
  syncFiles: Schema.Boolean,
  syncPredecessors: Schema.Boolean,
  /** No mirrored commit waits for its details (files, predecessors) to be read. */
  filesComplete: Schema.Boolean,
  watched: Schema.Boolean,
  /** How the mirror was last written (jj version, sync format, kinds); a different value forces a full sync. */
  syncedWith: Schema.NullOr(Schema.String),
  /** When a sync last compared everything with jj (a full sync or a reconciliation). */
  lastFullSyncAt: Schema.NullOr(Schema.DateFromSelf),
  /** The watcher instance whose lease covers the repository (`WATCHER_INSTANCE_ID`); null when none holds it. */
  leaseOwner: Schema.NullOr(Schema.String)
}) {
  get enabledKinds(): ReadonlyArray<SyncKind> {
    return allSyncKinds.filter((kind) => this.syncs(kind))
  }

  /** The details the fill reads for this repository's commits: none when commits are not mirrored. */
  get enabledDetails(): { readonly files: boolean; readonly predecessors: boolean } {
    return { files: this.syncChanges && this.syncFiles, predecessors: this.syncChanges && this.syncPredecessors }
  }

  syncs(kind: SyncKind): boolean {
    switch (kind) {
      case "changes":
        return this.syncChanges
      case "bookmarks":
        return this.syncBookmarks
      case "operations":
        return this.syncOperations
      case "conflicts":
        return this.syncConflicts
      case "tags":
        return this.syncTags
      case "workspaces":
        return this.syncWorkspaces
    }
  }
}

export class InvalidRepositoryName extends Schema.TaggedError<InvalidRepositoryName>()("InvalidRepositoryName", {
  field: Schema.Literal("owner", "name"),
  value: Schema.String
}) {
  get message() {
    return `${this.field} ${
      JSON.stringify(this.value)
    } is not a valid name: use 1 to 100 characters from A-Z a-z 0-9 . _ - (not starting with . or -)`
  }
}

/** No `repositories` row has this id, or this owner/name. */
export class RepositoryRowNotFound extends Schema.TaggedError<RepositoryRowNotFound>()("RepositoryRowNotFound", {
  key: Schema.Union(
    Schema.Struct({ id: RepositoryId }),
    Schema.Struct({ owner: Schema.String, name: Schema.String })
  )
}) {
  get message() {
    return "id" in this.key
      ? `no repository with id ${this.key.id}`
      : `no repository ${this.key.owner}/${this.key.name}`
  }
}

/** A path given for a repository leaves `REPOS_BASE_PATH` (through `..` or a symlink). */
export class PathOutsideBase extends Schema.TaggedError<PathOutsideBase>()("PathOutsideBase", {
  path: Schema.String
}) {
  get message() {
    return `${this.path} resolves outside the base directory`
  }
}

/** What a repository's row records when its directory is gone (its rows stay). */
export const repositoryVanished = (path: string) => `repository directory vanished: ${path}`
