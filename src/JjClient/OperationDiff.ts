import { Either } from "effect"
import { OperationId } from "../Domain/Ids.js"
import type { Operation, Workspace } from "../Domain/Jj.js"
import { diffCommitJson, DiffCommitLine, OperationLine } from "./Templates.js"
import type { DiffCommit } from "./Templates.js"

/**
 * `jj op diff` between the last synced operation and the pinned one: in one jj process, the commits that became
 * visible or stopped being visible, whether any bookmark changed, and the pinned operation itself. Its commits and
 * operations are printed with our templates (`operationDiffSettings`, a configuration file of the client's own, the
 * only user configuration jj reads); the rest of its output is jj's fixed text, of which only the section headings are
 * read. Not through `--config`: with it, jj parses its whole command line three more times to warn that aliases
 * cannot come from there, a sizeable part of the command's cost.
 *
 * Not `jj op log --limit 1 --op-diff`: for an operation that merged concurrent ones, jj merges its parents first and
 * writes that merge into the operation store (unpublished, but written).
 *
 * jj loads the repository at `--at-operation` for any workspace command, then both sides of the diff. Pinned to the
 * root operation, whose view is empty and made in memory, that first load costs nothing (a third of the command with
 * thousands of bookmarks); the diff itself only reads `--from` and `--to`, whose view also gives `visible_heads()`.
 */

/** The root operation's id: all zeros, as long as any other operation id. */
export const rootOperationId = (operationId: OperationId): OperationId =>
  OperationId.make("0".repeat(operationId.length))

/** A TOML string: JSON's escapes are TOML's. */
const tomlString = (value: string) => JSON.stringify(value)

/** What a diff knows of the visible heads at the previous operation. */
export type PreviousHeads =
  /** All of them, by id (a few: see `Sync/VisibleHeads.ts`). */
  | { readonly _tag: "Named"; readonly heads: ReadonlyArray<string> }
  /**
   * Too many to name: the working-copy commits instead, the ones that most operations hide when they hide anything;
   * and the pinned operation's working copies stand for its heads, the ancestors of which most operations add. The
   * diff says when that was not enough (`Elided`).
   */
  | { readonly _tag: "WorkingCopies"; readonly commitIds: ReadonlyArray<string> }
  /** Unknown, or the working copies did not cover the diff: the previous operation's view says. */
  | { readonly _tag: "Loaded" }

/**
 * The commits the diff shows (`--show-changes-in`): every one that changed, where jj's default leaves out immutable
 * ones.
 *
 * jj resolves the revset against each side, but evaluates `visible_heads()` with the pinned operation's view, so
 * the commits that stopped being visible are covered through the previous operation's heads: by id when they are
 * known, else by `at_operation`, which costs jj one more load of that operation's view (tens of milliseconds with
 * thousands of bookmarks). With the working copies only, neither side's heads are named (each evaluation of thousands
 * of heads costs jj a lookup of each): a commit outside the working copies' ancestry, on either side, is left out, and
 * jj says so in its count of elided commits.
 */
export const changesInRevset = (previous: string, previousHeads: PreviousHeads): string => {
  switch (previousHeads._tag) {
    case "Named":
      return `::(${["visible_heads()", ...previousHeads.heads].join(" | ")})`
    case "WorkingCopies":
      return `::(${["working_copies()", ...previousHeads.commitIds].join(" | ")})`
    case "Loaded":
      return `::(visible_heads() | at_operation(${previous}, visible_heads()))`
  }
}

/** The diff from `previous` to `operationId`, showing the commits of `changesInRevset`. */
export const operationDiffArgs = (
  previous: string,
  operationId: string,
  previousHeads: PreviousHeads
): ReadonlyArray<string> => [
  "operation",
  "diff",
  "--from",
  previous,
  "--to",
  operationId,
  "--no-graph",
  "--show-changes-in",
  changesInRevset(previous, previousHeads)
]

/**
 * The diff's templates, as a configuration file: the visible heads are read from it only when the previous ones are
 * named (they are kept only while few).
 */
export const operationDiffSettings = (previousHeads: PreviousHeads): string =>
  [
    "[templates]",
    `commit_summary = ${tomlString(diffCommitJson(previousHeads._tag === "Named" ? "read" : "skipped"))}`,
    `op_summary = ${tomlString("json(self)")}`,
    ""
  ].join("\n")

/** What one line of the diff says. */
export type OperationDiffItem =
  /** The pinned operation, as `jj op log` would print it. */
  | { readonly _tag: "To"; readonly operation: Operation }
  /**
   * A commit of a changed change: `added` ones became visible; removed ones are the predecessors of added ones
   * (hidden, or still visible) and commits that were abandoned.
   */
  | { readonly _tag: "Commit"; readonly added: boolean; readonly commit: DiffCommit }
  /**
   * Changed commits that the revset left out (jj prints only their count): the diff is not whole. Only commits that
   * stopped being visible can be left out, and only when the revset names the working copies alone.
   */
  | { readonly _tag: "Elided" }
  /** A local or remote bookmark changed (jj leaves out the `git` remote). */
  | { readonly _tag: "BookmarksChanged" }
  /** A local or remote tag changed (jj leaves out the `git` remote). */
  | { readonly _tag: "TagsChanged" }
  /**
   * A workspace's working-copy commit at the pinned operation (`commit`), or its absence (the workspace was
   * forgotten): the `+` line of its section of the diff.
   */
  | {
    readonly _tag: "WorkingCopy"
    readonly workspace: string
    readonly commit: Omit<Workspace, "name"> | null
  }

type Section = "header" | "commits" | "names" | { readonly workspace: string }

const headings: ReadonlyArray<readonly [RegExp, OperationDiffItem | undefined]> = [
  [/^Changed commits:$/, undefined],
  [/^Changed (local|remote) bookmarks:$/, { _tag: "BookmarksChanged" }],
  [/^Changed (local|remote) tags:$/, { _tag: "TagsChanged" }]
]

/** `Changed working copy <name>@:`, the name a symbol that jj quotes (a string literal) unless plain. */
const workingCopyHeading = /^Changed working copy (.+)@:$/

const symbolName = (symbol: string): Either.Either<string, string> => {
  if (!symbol.startsWith("\"")) return Either.right(symbol)
  return Either.try({
    try: () => JSON.parse(symbol) as unknown,
    catch: () => `cannot read the quoted workspace name ${symbol}`
  }).pipe(Either.filterOrLeft((name): name is string => typeof name === "string", () => "not a workspace name"))
}

/**
 * A decoder of the diff's lines, in order: each line gives an item, nothing (`undefined`), or why it cannot be read.
 * Names in the bookmark, tag and working-copy sections are symbols, quoted by jj when they hold anything but plain
 * name characters, so no name line can look like a heading. A working-copy section's `+` line is read: it is the
 * workspace's `@` at the pinned operation. jj's count of commits it left out is an `Elided` item when `elided` is
 * "expected" (the revset may not cover them), else a failure: the diff is not whole.
 */
export const operationDiffDecoder = (elided: "expected" | "invalid" = "invalid") => {
  let section: Section = "header"
  return (line: string): Either.Either<OperationDiffItem | undefined, string> => {
    if (line.length === 0) return Either.right(undefined)
    for (const [heading, item] of headings) {
      if (heading.test(line)) {
        section = item === undefined ? "commits" : "names"
        return Either.right(item)
      }
    }
    const workingCopy = workingCopyHeading.exec(line)
    if (workingCopy?.[1] !== undefined) {
      return Either.map(symbolName(workingCopy[1]), (workspace) => {
        section = { workspace }
        return undefined
      })
    }
    switch (section) {
      case "header": {
        if (line.startsWith("From operation: ")) return Either.right(undefined)
        const to = /^ {2}To operation: (.*)$/.exec(line)
        return to?.[1] === undefined
          ? Either.left("not an operation line of the diff's heading")
          : Either.map(OperationLine.decode(to[1]), (operation) => ({ _tag: "To", operation }))
      }
      case "commits": {
        if (/^ {3}\(Elided .+ revisions\)$/.test(line)) {
          return elided === "expected" ? Either.right({ _tag: "Elided" }) : Either.left("jj left changed commits out")
        }
        const sign = line.slice(0, 2)
        if (sign !== "+ " && sign !== "- ") return Either.left("not a commit line (+ or -)")
        return Either.map(
          DiffCommitLine.decode(line.slice(2)),
          (commit) => ({ _tag: "Commit", added: sign === "+ ", commit })
        )
      }
      case "names":
        return Either.right(undefined)
      default: {
        // The working copy now (+) and before (-); "(absent)" when the workspace does not exist on that side.
        if (!line.startsWith("+ ")) return Either.right(undefined)
        const { workspace } = section
        if (line === "+ (absent)") return Either.right({ _tag: "WorkingCopy", workspace, commit: null })
        return Either.map(DiffCommitLine.decode(line.slice(2)), ({ listed }) => {
          const fields = "change" in listed ? listed.change : listed.pending
          return { _tag: "WorkingCopy", workspace, commit: { commitId: fields.commitId, changeId: fields.changeId } }
        })
      }
    }
  }
}
