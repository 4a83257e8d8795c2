import { Either, ParseResult, Schema } from "effect"
import { ChangeId, CommitId, OperationId } from "../Domain/Ids.js"
import { ConflictedCommit, Operation, Workspace } from "../Domain/Jj.js"
import type { Bookmark, Change, ChangedFile, CommitDetails, Signature, VisibleCommit } from "../Domain/Jj.js"

/**
 * jj templates that print one JSON object per line, and the schemas that turn each line into a domain value.
 * Methods are called on `self` rather than through keywords so that template aliases cannot change their meaning.
 */

const field = (name: string, value: string) => `"\\"${name}\\":" ++ ${value}`
const json = (...fields: ReadonlyArray<string>) => `"{" ++ ${fields.join(` ++ "," ++ `)} ++ "}"`
const object = (...fields: ReadonlyArray<string>) => `${json(...fields)} ++ "\\n"`

/**
 * Every field of a commit, as one JSON object. Whether a merge is empty is the one costly field: jj merges the
 * parents' trees to know. With `merges: "deferred"` a merge's `empty` is null, to be read apart (`emptinessTemplate`).
 *
 * With `visibility: "diff"`, for `jj op diff`: there templates run on a repository jj builds for the diff, on which
 * `hidden()` and `divergent()` build jj's index of every visible commit's change id again at each call (a cost that
 * grows with the history and the number of heads). Hidden is then asked of the visible heads' ancestry, evaluated
 * once per command; `divergent` is printed false, for the mirror recomputes divergence of every change a difference
 * touches (`MirrorWriter.mergeChanges`).
 */
export const changeJson = (merges: "inline" | "deferred", visibility: "own" | "diff" = "own") =>
  json(
    field("hidden", visibility === "own" ? "json(self.hidden())" : `json(!self.contained_in("::visible_heads()"))`),
    field(
      "empty",
      merges === "inline" ? "json(self.empty())" : `if(self.parents().len() > 1, "null", json(self.empty()))`
    ),
    field("conflict", "json(self.conflict())"),
    field("divergent", visibility === "own" ? "json(self.divergent())" : `"false"`),
    field("commit", "json(self)")
  )

/** `changeJson` as a line, for `jj log`. */
export const changeTemplate = (merges: "inline" | "deferred") => `${changeJson(merges)} ++ "\\n"`

/**
 * A visible commit's id, and whether its change is divergent: all a comparison with the mirror needs of a commit it
 * already holds (the other fields never change for a commit id). Plain text: both are cheap for jj, no JSON to parse.
 */
export const visibleCommitTemplate = `self.commit_id() ++ if(self.divergent(), " divergent") ++ "\\n"`

/** A line of `visibleCommitTemplate`. */
export const VisibleCommitLine: LineFormat<VisibleCommit> = {
  decode: (line) => {
    const [commitId, divergent, ...rest] = line.split(" ")
    return commitId !== undefined && /^[0-9a-f]+$/.test(commitId) && rest.length === 0 &&
        (divergent === undefined || divergent === "divergent")
      ? Either.right({ commitId: commitId as CommitId, isDivergent: divergent !== undefined })
      : Either.left("not a commit id, optionally followed by \"divergent\"")
  }
}

/** Whether each merge is empty: for the merges whose emptiness a listing deferred. */
export const emptinessTemplate = object(
  field("commit_id", "json(self.commit_id())"),
  field("empty", "json(self.empty())")
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

/** A bookmark or a tag (both `CommitRef`s, listed by `jj bookmark list` and `jj tag list`) per line. */
export const bookmarkTemplate = `${bookmarkJson("self")} ++ "\\n"`

/** A workspace (`jj workspace list`) and its working-copy commit. */
export const workspaceTemplate = object(
  field("name", "json(self.name())"),
  field("commit_id", "json(self.target().commit_id())"),
  field("change_id", "json(self.target().change_id())")
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

/** How one line of jj's output becomes a value, or why it cannot. */
export interface LineFormat<A> {
  readonly decode: (line: string) => Either.Either<A, string>
}

/** A line decoded by a schema, for the short listings (operations, conflicts). */
export const schemaLine = <A, I>(schema: Schema.Schema<A, I>): LineFormat<A> => {
  const decode = Schema.decodeUnknownEither(schema)
  return { decode: (line) => Either.mapLeft(decode(line), (error) => ParseResult.TreeFormatter.formatErrorSync(error)) }
}

/**
 * A JSON line checked against `raw` in place, then turned into a value by `build`: for the listings of every commit,
 * where a decoding schema's copies of each line cost more than reading jj's output. Only a line that fails the check is decoded by the schema, to say why.
 */
const checkedJsonLine = <R, I, A>(
  raw: Schema.Schema<R, I>,
  build: (raw: R) => Either.Either<A, string>
): LineFormat<A> => {
  const is = Schema.is(raw)
  const explain = Schema.decodeUnknownEither(raw)
  return {
    decode: (line) =>
      Either.try({ try: (): unknown => JSON.parse(line), catch: (error) => `not JSON: ${String(error)}` }).pipe(
        Either.flatMap((parsed) =>
          is(parsed)
            ? build(parsed)
            : explain(parsed).pipe(
              Either.mapLeft((error) => ParseResult.TreeFormatter.formatErrorSync(error)),
              Either.flatMap(build)
            )
        )
      )
  }
}

const JjSignature = Schema.Struct({ name: Schema.String, email: Schema.String, timestamp: Schema.String })

const toSignature = (signature: typeof JjSignature.Type): Either.Either<Signature, string> => {
  const timestamp = new Date(signature.timestamp)
  return Number.isNaN(timestamp.getTime())
    ? Either.left(`invalid timestamp ${JSON.stringify(signature.timestamp)}`)
    : Either.right({ name: signature.name, email: signature.email, timestamp })
}

const RawCommit = Schema.Struct({
  commit_id: CommitId,
  change_id: ChangeId,
  parents: Schema.Array(CommitId),
  description: Schema.String,
  author: JjSignature,
  committer: JjSignature
})
const rawChangeFields = {
  hidden: Schema.Boolean,
  empty: Schema.NullOr(Schema.Boolean),
  conflict: Schema.Boolean,
  divergent: Schema.Boolean,
  commit: RawCommit
}
type RawChange = Schema.Struct.Type<typeof rawChangeFields>

/** A commit's fields but its emptiness, which may come apart. */
export type CommitFields = Omit<Change, "isEmpty">

const toFields = ({ commit, conflict, divergent }: RawChange): Either.Either<CommitFields, string> =>
  Either.all([toSignature(commit.author), toSignature(commit.committer)]).pipe(
    Either.map(([author, committer]) => ({
      commitId: commit.commit_id,
      changeId: commit.change_id,
      parentCommitIds: commit.parents,
      description: commit.description,
      author,
      committer,
      hasConflicts: conflict,
      isDivergent: divergent
    }))
  )

/**
 * A commit line: the whole `change`, or its fields `pending` their emptiness (a merge whose emptiness the listing
 * deferred). `hidden` is true only for commits an incremental read lists because they stopped being visible.
 */
export type ListedCommit =
  | { readonly hidden: boolean; readonly change: Change }
  | { readonly hidden: boolean; readonly pending: CommitFields }

const toListed = (raw: RawChange): Either.Either<ListedCommit, string> =>
  Either.map(toFields(raw), (fields) =>
    raw.empty === null
      ? { hidden: raw.hidden, pending: fields }
      : { hidden: raw.hidden, change: { ...fields, isEmpty: raw.empty } })

export const ChangeLine = checkedJsonLine(Schema.Struct(rawChangeFields), toListed)

/** Whether a revset's commit is a visible head at the pinned operation (`visible_heads()` is the pinned view's). */
const visibleHead = (commit: string) => `${commit}.contained_in("visible_heads()")`

/**
 * A commit as `jj op diff` lists it: `changeJson`, and, at the pinned operation, whether it is a visible head and which
 * of its parents are: what the visible heads of the pinned operation are computed from (`Sync/VisibleHeads.ts`). With
 * `heads: "skipped"` (the heads are not kept: too many, or listed apart), those are printed as none, sparing jj the
 * evaluation of every visible head.
 */
export const diffCommitJson = (heads: "read" | "skipped") =>
  json(
    field("change", changeJson("deferred", "diff")),
    field("head", heads === "read" ? `json(${visibleHead("self")})` : `"false"`),
    field(
      "parent_heads",
      heads === "read" ? `json(self.parents().filter(|p| ${visibleHead("p")}).map(|p| p.commit_id()))` : `"[]"`
    )
  )

/** A commit of `jj op diff`, with its heads at the pinned operation. */
export interface DiffCommit {
  readonly listed: ListedCommit
  /** The commit is a visible head at the pinned operation. */
  readonly head: boolean
  /** Its parents that are visible heads at the pinned operation. */
  readonly parentHeads: ReadonlyArray<string>
}

/** A line of `diffCommitJson`. */
export const DiffCommitLine = checkedJsonLine(
  Schema.Struct({ change: Schema.Struct(rawChangeFields), head: Schema.Boolean, parent_heads: Schema.Array(CommitId) }),
  (raw): Either.Either<DiffCommit, string> =>
    Either.map(toListed(raw.change), (listed) => ({ listed, head: raw.head, parentHeads: raw.parent_heads }))
)

/** The visible heads at the pinned operation, an id per line. */
export const visibleHeadTemplate = `self.commit_id() ++ "\\n"`

/** A line of `visibleHeadTemplate`. */
export const VisibleHeadLine: LineFormat<string> = {
  decode: (line) => /^[0-9a-f]+$/.test(line) ? Either.right(line) : Either.left("not a commit id")
}

/** A line of `emptinessTemplate`. */
export const EmptinessLine = checkedJsonLine(
  Schema.Struct({ commit_id: CommitId, empty: Schema.Boolean }),
  (raw) => Either.right({ commitId: raw.commit_id, isEmpty: raw.empty })
)

const RawBookmark = Schema.Struct({
  name: Schema.String,
  remote: Schema.NullOr(Schema.String),
  present: Schema.Boolean,
  conflict: Schema.Boolean,
  tracked: Schema.Boolean,
  targets: Schema.Array(CommitId),
  change_id: Schema.NullOr(ChangeId)
})

const toBookmark = (line: typeof RawBookmark.Type): Bookmark => ({
  name: line.name,
  remote: line.remote ?? "",
  targetCommitIds: line.targets,
  targetChangeId: line.change_id,
  isConflicted: line.conflict,
  isTracked: line.remote === null ? false : line.tracked
})

export const BookmarkLine = checkedJsonLine(
  RawBookmark,
  (line) => Either.right({ present: line.present, bookmark: toBookmark(line) })
)

const OperationSchema = Schema.transform(
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

export const OperationLine = schemaLine(OperationSchema)

export const OperationEndLine = schemaLine(Schema.parseJson(Schema.Date))

const ConflictSchema = Schema.transform(
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

export const ConflictLine = schemaLine(ConflictSchema)

const WorkspaceSchema = Schema.transform(
  Schema.parseJson(Schema.Struct({ name: Schema.String, commit_id: Schema.String, change_id: Schema.String })),
  Workspace,
  {
    strict: true,
    decode: (line) => ({ name: line.name, commitId: line.commit_id, changeId: line.change_id }),
    encode: (workspace) => ({ name: workspace.name, commit_id: workspace.commitId, change_id: workspace.changeId })
  }
)

export const WorkspaceLine = schemaLine(WorkspaceSchema)

/** What a read of commit details asks jj for: the changed files (with line counts), the predecessors, or both. */
export interface DetailsWanted {
  readonly files: boolean
  readonly predecessors: boolean
}

/**
 * The changed files of `commit` (a `Commit` expression), from jj's diff stat (the costly part: it reads both versions
 * of every file; the stat alone also says each file's status, and the old path of a rename or copy in its display
 * path, so the diff is computed once): `[path, status, display path, lines added, lines removed]`.
 */
const filesJson = (commit: string) =>
  `"\\"files\\":[" ++ ${commit}.diff().stat().files().map(|s| "[" ++ json(s.path()) ++ "," ++ json(s.status()) ++ ` +
  `"," ++ json(s.display_diff_path()) ++ "," ++ s.lines_added() ++ "," ++ s.lines_removed() ++ "]").join(",") ++ "]"`

/**
 * A commit's details from `jj evolog` (a `CommitEvolutionEntry`): its id, the operation that made it and its
 * immediate predecessors, and its files when wanted. The evolution of a visible commit goes on through its hidden
 * predecessors, which print nothing.
 */
export const evolutionDetailsTemplate = (files: boolean) =>
  `if(self.commit().hidden(), "", ${
    object(
      field("commit_id", "json(self.commit().commit_id())"),
      field("operation_id", `if(self.operation(), json(self.operation().id()), "null")`),
      field("predecessors", "json(self.predecessors().map(|c| c.commit_id()))"),
      ...(files ? [filesJson("self.commit()")] : [`"\\"files\\":[]"`])
    )
  })`

/** A commit's files alone, from `jj log`, when its predecessors are not mirrored. */
export const filesDetailsTemplate = object(
  field("commit_id", "json(self.commit_id())"),
  `"\\"operation_id\\":null,\\"predecessors\\":[]"`,
  filesJson("self")
)

const RawDetails = Schema.Struct({
  commit_id: CommitId,
  operation_id: Schema.NullOr(OperationId),
  predecessors: Schema.Array(CommitId),
  files: Schema.Array(Schema.Tuple(Schema.String, Schema.String, Schema.String, Schema.Number, Schema.Number))
})

/** jj's names for a file's change whose source path is another path. */
const movedStatuses = new Set(["renamed", "copied"])

/**
 * The old path of a rename or copy, from jj's display path: the new `path` with its differing middle written as
 * `{old => new}` between the components both share (`src/{a.txt => b.txt}`, `a/{ => x}/b`). Undefined when the
 * display path does not say so.
 */
export const sourceOfMove = (path: string, display: string): string | undefined => {
  for (let open = display.indexOf("{"); open !== -1; open = display.indexOf("{", open + 1)) {
    const prefix = display.slice(0, open)
    if (!path.startsWith(prefix)) break
    for (let close = display.lastIndexOf("}"); close > open; close = display.lastIndexOf("}", close - 1)) {
      const suffix = display.slice(close + 1)
      if (!path.endsWith(suffix)) continue
      const after = path.slice(prefix.length, Math.max(prefix.length, path.length - suffix.length))
      const inner = display.slice(open + 1, close)
      if (!inner.endsWith(` => ${after}`)) continue
      const before = inner.slice(0, inner.length - after.length - 4)
      // A separator both the prefix and the suffix hold is written once in the path.
      return `${prefix}${before}${suffix}`.replace(/\/\/+/g, "/").replace(/^\//, "")
    }
  }
  return undefined
}

/** A line of `evolutionDetailsTemplate` or `filesDetailsTemplate`. */
export const DetailsLine = checkedJsonLine(RawDetails, (raw): Either.Either<CommitDetails, string> => {
  const files: Array<ChangedFile> = []
  for (const [path, status, display, linesAdded, linesRemoved] of raw.files) {
    const sourcePath = movedStatuses.has(status) ? sourceOfMove(path, display) : null
    if (sourcePath === undefined) return Either.left(`no old path in ${JSON.stringify(display)} (${status} ${path})`)
    files.push({ path, status, sourcePath, linesAdded, linesRemoved })
  }
  return Either.right({
    commitId: raw.commit_id,
    operationId: raw.operation_id,
    predecessorCommitIds: raw.predecessors,
    files
  })
})
