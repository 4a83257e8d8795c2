import { Schema } from "effect"
import { Bookmark, Change, ConflictedCommit, Operation } from "../Domain/Jj.js"

/**
 * jj templates that print one JSON object per line, and the schemas that turn each line into a domain value.
 * Methods are called on `self` rather than through keywords so that template aliases cannot change their meaning.
 */

const field = (name: string, value: string) => `"\\"${name}\\":" ++ ${value}`
const object = (...fields: ReadonlyArray<string>) => `"{" ++ ${fields.join(` ++ "," ++ `)} ++ "}\\n"`

export const changeTemplate = object(
  field("hidden", "json(self.hidden())"),
  field("empty", "json(self.empty())"),
  field("conflict", "json(self.conflict())"),
  field("divergent", "json(self.divergent())"),
  field("commit", "json(self)")
)

export const bookmarkTemplate = object(
  field("name", "json(self.name())"),
  field("remote", `if(self.remote(), json(self.remote()), "null")`),
  field("present", "json(self.present())"),
  field("conflict", "json(self.conflict())"),
  field("tracked", "json(self.tracked())"),
  field("targets", "json(self.added_targets().map(|c| c.commit_id()))"),
  field("change_id", `if(self.normal_target(), json(self.normal_target().change_id()), "null")`)
)

export const operationTemplate = `json(self) ++ "\\n"`

export const operationEndTemplate = `json(self.time().end()) ++ "\\n"`

export const conflictTemplate = object(
  field("commit_id", "json(self.commit_id())"),
  field("change_id", "json(self.change_id())"),
  `"\\"files\\":[" ++ self.conflicted_files().map(|e| "{" ++ ${field("path", "json(e.path())")} ++ "," ++ ${
    field("sides", "e.conflict_side_count()")
  } ++ "}").join(",") ++ "]"`
)

const JjSignature = Schema.Struct({ name: Schema.String, email: Schema.String, timestamp: Schema.String })

/** A commit line; `hidden` is true only for commits an incremental read lists because they stopped being visible. */
export const ChangeLine = Schema.transform(
  Schema.parseJson(Schema.Struct({
    hidden: Schema.Boolean,
    empty: Schema.Boolean,
    conflict: Schema.Boolean,
    divergent: Schema.Boolean,
    commit: Schema.Struct({
      commit_id: Schema.String,
      change_id: Schema.String,
      parents: Schema.Array(Schema.String),
      description: Schema.String,
      author: JjSignature,
      committer: JjSignature
    })
  })),
  Schema.Struct({ hidden: Schema.Boolean, change: Change }),
  {
    strict: true,
    decode: ({ commit, conflict, divergent, empty, hidden }) => ({
      hidden,
      change: {
        commitId: commit.commit_id,
        changeId: commit.change_id,
        parentCommitIds: commit.parents,
        description: commit.description,
        author: commit.author,
        committer: commit.committer,
        isEmpty: empty,
        hasConflicts: conflict,
        isDivergent: divergent
      }
    }),
    encode: ({ change, hidden }) => ({
      hidden,
      empty: change.isEmpty,
      conflict: change.hasConflicts,
      divergent: change.isDivergent,
      commit: {
        commit_id: change.commitId,
        change_id: change.changeId,
        parents: change.parentCommitIds,
        description: change.description,
        author: change.author,
        committer: change.committer
      }
    })
  }
)

/** A bookmark line; `present` is false for a deleted local bookmark that jj still lists for its tracked remotes. */
export const BookmarkLine = Schema.transform(
  Schema.parseJson(Schema.Struct({
    name: Schema.String,
    remote: Schema.NullOr(Schema.String),
    present: Schema.Boolean,
    conflict: Schema.Boolean,
    tracked: Schema.Boolean,
    targets: Schema.Array(Schema.String),
    change_id: Schema.NullOr(Schema.String)
  })),
  Schema.Struct({ present: Schema.Boolean, bookmark: Bookmark }),
  {
    strict: true,
    decode: (line) => ({
      present: line.present,
      bookmark: {
        name: line.name,
        remote: line.remote ?? "",
        targetCommitIds: line.targets,
        targetChangeId: line.change_id,
        isConflicted: line.conflict,
        isTracked: line.remote === null ? false : line.tracked
      }
    }),
    encode: ({ bookmark, present }) => ({
      name: bookmark.name,
      remote: bookmark.remote === "" ? null : bookmark.remote,
      present,
      conflict: bookmark.isConflicted,
      tracked: bookmark.isTracked,
      targets: bookmark.targetCommitIds,
      change_id: bookmark.targetChangeId
    })
  }
)

export const OperationLine = Schema.transform(
  Schema.parseJson(Schema.Struct({
    id: Schema.String,
    parents: Schema.Array(Schema.String),
    time: Schema.Struct({ start: Schema.String, end: Schema.String }),
    description: Schema.String,
    hostname: Schema.String,
    username: Schema.String,
    is_snapshot: Schema.Boolean,
    workspace_name: Schema.NullOr(Schema.String),
    attributes: Schema.Record({ key: Schema.String, value: Schema.String })
  })),
  Operation,
  {
    strict: true,
    decode: (line) => ({
      operationId: line.id,
      parentOperationIds: line.parents,
      description: line.description,
      username: line.username,
      hostname: line.hostname,
      startTime: line.time.start,
      endTime: line.time.end,
      isSnapshot: line.is_snapshot,
      workspaceName: line.workspace_name ?? "",
      tags: line.attributes
    }),
    encode: (operation) => ({
      id: operation.operationId,
      parents: operation.parentOperationIds,
      time: { start: operation.startTime, end: operation.endTime },
      description: operation.description,
      hostname: operation.hostname,
      username: operation.username,
      is_snapshot: operation.isSnapshot,
      workspace_name: operation.workspaceName === "" ? null : operation.workspaceName,
      attributes: operation.tags
    })
  }
)

export const OperationEndLine = Schema.parseJson(Schema.Date)

export const ConflictLine = Schema.transform(
  Schema.parseJson(Schema.Struct({
    commit_id: Schema.String,
    change_id: Schema.String,
    files: Schema.Array(Schema.Struct({ path: Schema.String, sides: Schema.Number }))
  })),
  ConflictedCommit,
  {
    strict: true,
    decode: (line) => ({ commitId: line.commit_id, changeId: line.change_id, files: line.files }),
    encode: (commit) => ({ commit_id: commit.commitId, change_id: commit.changeId, files: commit.files })
  }
)
