import { Schema } from "effect"
import { Bookmark, Change, ConflictedCommit, Operation } from "../Domain/Jj.js"

/**
 * jj templates that print one JSON object per line, and the schemas that turn each line into a domain value.
 * Methods are called on `self` rather than through keywords so that template aliases cannot change their meaning.
 */

const field = (name: string, value: string) => `"\\"${name}\\":" ++ ${value}`
const json = (...fields: ReadonlyArray<string>) => `"{" ++ ${fields.join(` ++ "," ++ `)} ++ "}"`
const object = (...fields: ReadonlyArray<string>) => `${json(...fields)} ++ "\\n"`

export const changeTemplate = object(
  field("hidden", "json(self.hidden())"),
  field("empty", "json(self.empty())"),
  field("conflict", "json(self.conflict())"),
  field("divergent", "json(self.divergent())"),
  field("commit", "json(self)")
)

/** A bookmark (a `CommitRef` named `ref`) as one JSON object. */
const bookmarkJson = (ref: string) =>
  json(
    field("name", `json(${ref}.name())`),
    field("remote", `if(${ref}.remote(), json(${ref}.remote()), "null")`),
    field("present", `json(${ref}.present())`),
    field("conflict", `json(${ref}.conflict())`),
    field("tracked", `json(${ref}.tracked())`),
    field("targets", `json(${ref}.added_targets().map(|c| c.commit_id()))`),
    field("change_id", `if(${ref}.normal_target(), json(${ref}.normal_target().change_id()), "null")`)
  )

export const bookmarkTemplate = `${bookmarkJson("self")} ++ "\\n"`

/**
 * For `jj log` over a difference revset joined with every bookmark target: the commit as `changeTemplate` prints
 * it, whether it belongs to the difference, and the bookmarks (local and remote, `git` included) pointing at it.
 */
export const changeWithBookmarksTemplate = (difference: string) =>
  object(
    field("in_difference", `json(self.contained_in(${JSON.stringify(difference)}))`),
    field("hidden", "json(self.hidden())"),
    field("empty", "json(self.empty())"),
    field("conflict", "json(self.conflict())"),
    field("divergent", "json(self.divergent())"),
    field("commit", "json(self)"),
    field("local_bookmarks", `"[" ++ self.local_bookmarks().map(|b| ${bookmarkJson("b")}).join(",") ++ "]"`),
    field("remote_bookmarks", `"[" ++ self.remote_bookmarks().map(|b| ${bookmarkJson("b")}).join(",") ++ "]"`)
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

const RawCommit = Schema.Struct({
  commit_id: Schema.String,
  change_id: Schema.String,
  parents: Schema.Array(Schema.String),
  description: Schema.String,
  author: JjSignature,
  committer: JjSignature
})
const rawChangeFields = {
  hidden: Schema.Boolean,
  empty: Schema.Boolean,
  conflict: Schema.Boolean,
  divergent: Schema.Boolean,
  commit: RawCommit
}
type RawChange = Schema.Struct.Type<typeof rawChangeFields>

const toChange = ({ commit, conflict, divergent, empty }: RawChange): typeof Change.Encoded => ({
  commitId: commit.commit_id,
  changeId: commit.change_id,
  parentCommitIds: commit.parents,
  description: commit.description,
  author: commit.author,
  committer: commit.committer,
  isEmpty: empty,
  hasConflicts: conflict,
  isDivergent: divergent
})

const fromChange = (change: typeof Change.Encoded, hidden: boolean): RawChange => ({
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

/** A commit line; `hidden` is true only for commits an incremental read lists because they stopped being visible. */
export const ChangeLine = Schema.transform(
  Schema.parseJson(Schema.Struct(rawChangeFields)),
  Schema.Struct({ hidden: Schema.Boolean, change: Change }),
  {
    strict: true,
    decode: (raw) => ({ hidden: raw.hidden, change: toChange(raw) }),
    encode: ({ change, hidden }) => fromChange(change, hidden)
  }
)

/** A bookmark line; `present` is false for a deleted local bookmark that jj still lists for its tracked remotes. */
const RawBookmark = Schema.Struct({
  name: Schema.String,
  remote: Schema.NullOr(Schema.String),
  present: Schema.Boolean,
  conflict: Schema.Boolean,
  tracked: Schema.Boolean,
  targets: Schema.Array(Schema.String),
  change_id: Schema.NullOr(Schema.String)
})

const toBookmark = (line: typeof RawBookmark.Type): typeof Bookmark.Encoded => ({
  name: line.name,
  remote: line.remote ?? "",
  targetCommitIds: line.targets,
  targetChangeId: line.change_id,
  isConflicted: line.conflict,
  isTracked: line.remote === null ? false : line.tracked
})

const fromBookmark = (bookmark: typeof Bookmark.Encoded): typeof RawBookmark.Type => ({
  name: bookmark.name,
  remote: bookmark.remote === "" ? null : bookmark.remote,
  present: true,
  conflict: bookmark.isConflicted,
  tracked: bookmark.isTracked,
  targets: bookmark.targetCommitIds,
  change_id: bookmark.targetChangeId
})

export const BookmarkLine = Schema.transform(
  Schema.parseJson(RawBookmark),
  Schema.Struct({ present: Schema.Boolean, bookmark: Bookmark }),
  {
    strict: true,
    decode: (line) => ({ present: line.present, bookmark: toBookmark(line) }),
    encode: ({ bookmark, present }) => ({ ...fromBookmark(bookmark), present })
  }
)

/** A line of `changeWithBookmarksTemplate`: a commit, whether it is in the difference, the bookmarks at it. */
export const ChangeWithBookmarksLine = Schema.transform(
  Schema.parseJson(Schema.Struct({
    in_difference: Schema.Boolean,
    ...rawChangeFields,
    local_bookmarks: Schema.Array(RawBookmark),
    remote_bookmarks: Schema.Array(RawBookmark)
  })),
  Schema.Struct({
    inDifference: Schema.Boolean,
    hidden: Schema.Boolean,
    change: Change,
    bookmarks: Schema.Array(Bookmark)
  }),
  {
    strict: true,
    decode: (raw) => ({
      inDifference: raw.in_difference,
      hidden: raw.hidden,
      change: toChange(raw),
      bookmarks: [...raw.local_bookmarks, ...raw.remote_bookmarks].filter((b) => b.present).map(toBookmark)
    }),
    encode: ({ bookmarks, change, hidden, inDifference }) => ({
      in_difference: inDifference,
      ...fromChange(change, hidden),
      local_bookmarks: bookmarks.filter((b) => b.remote === "").map(fromBookmark),
      remote_bookmarks: bookmarks.filter((b) => b.remote !== "").map(fromBookmark)
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
