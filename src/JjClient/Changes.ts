import { Array as Arr, Chunk, Effect, Option, Stream } from "effect"
import type { OperationId } from "../Domain/Ids.js"
import type { Change, RepositoryLocation, VisibleCommit } from "../Domain/Jj.js"
import type { JjError } from "../Domain/JjErrors.js"
import { JjOutputInvalid } from "../Domain/JjErrors.js"
import type { JjCommand } from "./Command.js"
import { mergeParts } from "./MergeParts.js"
import {
  ChangeLine,
  changeTemplate,
  EmptinessLine,
  emptinessTemplate,
  VisibleCommitLine,
  visibleCommitTemplate
} from "./Templates.js"
import type { CommitFields, LineFormat } from "./Templates.js"

/** Commit ids named in one revset: each costs jj a lookup, and one argument must stay well under the OS limit. */
const namedPerProcess = 1_000

/** What the listing of every commit needs of the client: its jj runner and its settings. */
export interface ChangesReaderOptions {
  readonly decodeLines: <A>(command: JjCommand, format: LineFormat<A>) => Stream.Stream<A, JjError>
  readonly pinned: (location: RepositoryLocation, operationId: OperationId, rest: ReadonlyArray<string>) => JjCommand
  /** jj processes that read merges' emptiness apart from the listing; 0 reads it in the listing. */
  readonly mergeReaders: number
}

export const makeChangesReader = ({ decodeLines, mergeReaders, pinned }: ChangesReaderOptions) => {
  /** `jj log` of a revset with a template, without the graph, one decoded value per line. */
  const log = <A>(
    location: RepositoryLocation,
    operationId: OperationId,
    revset: string,
    template: string,
    format: LineFormat<A>
  ) => decodeLines(pinned(location, operationId, ["log", "--revisions", revset, "--no-graph", "-T", template]), format)

  /**
   * The `pending` merges (fields without emptiness) completed with their emptiness, read by one jj process per
   * revset of `parts` (which together name exactly them), up to `mergeReaders` at once; every merge must come back
   * exactly once, or the stream fails. Consumes `pending`.
   */
  const completeMerges = (
    location: RepositoryLocation,
    operationId: OperationId,
    pending: Map<string, CommitFields>,
    parts: ReadonlyArray<string>
  ): Stream.Stream<Change, JjError> =>
    Stream.fromIterable(parts).pipe(
      Stream.flatMap(
        (revset) =>
          log(location, operationId, revset, emptinessTemplate, EmptinessLine).pipe(
            Stream.withSpan("JjClient.emptiness", { attributes: { revset } })
          ),
        { concurrency: Math.max(1, mergeReaders) }
      ),
      Stream.mapEffect(({ commitId, isEmpty }) => {
        const fields = pending.get(commitId)
        if (fields === undefined) {
          return new JjOutputInvalid({ args: ["merges"], line: commitId, reason: "a merge the listing did not have" })
        }
        pending.delete(commitId)
        return Effect.succeed<Change>({ ...fields, isEmpty })
      }),
      Stream.concat(Stream.suspend(() =>
        pending.size === 0 ? Stream.empty : Stream.fail(
          new JjOutputInvalid({
            args: ["merges"],
            line: [...pending.keys()].slice(0, 3).join(" "),
            reason: `no emptiness for ${pending.size} merges of the listing`
          })
        )
      ))
    )

  /**
   * Every visible commit but the root. Whether a merge is empty costs jj a merge of its parents' trees, most of a
   * large import; so the listing leaves it out for merges, and `mergeReaders` jj processes then read it in parallel,
   * each for the merges of its own part of the history. Merges therefore come after the other commits.
   */
  const changes = (location: RepositoryLocation, operationId: OperationId): Stream.Stream<Change, JjError> => {
    const listing = (merges: "inline" | "deferred") =>
      log(location, operationId, "all() ~ root()", changeTemplate(merges), ChangeLine)
    if (mergeReaders === 0) {
      return listing("inline").pipe(
        Stream.filterMap((line) => "change" in line ? Option.some(line.change) : Option.none()),
        Stream.withSpan("JjClient.changes")
      )
    }
    // Merges in listing order (newest first), until their emptiness is read.
    const pending = new Map<string, CommitFields>()
    const listed = listing("deferred").pipe(
      Stream.mapChunks((lines) =>
        Chunk.filterMap(lines, (line) => {
          if ("change" in line) return Option.some(line.change)
          pending.set(line.pending.commitId, line.pending)
          return Option.none()
        })
      )
    )
    const filled = Stream.suspend(() =>
      completeMerges(location, operationId, pending, mergeParts([...pending.keys()], mergeReaders))
    )
    return Stream.concat(listed, filled).pipe(Stream.withSpan("JjClient.changes"))
  }

  /** Every visible commit but the root, as ids and divergence only: a comparison with the mirror's commits. */
  const visibleCommits = (location: RepositoryLocation, operationId: OperationId): Stream.Stream<
    VisibleCommit,
    JjError
  > =>
    log(location, operationId, "all() ~ root()", visibleCommitTemplate, VisibleCommitLine).pipe(
      Stream.withSpan("JjClient.visibleCommits")
    )

  /** Revsets naming `commitIds` in parts of at most `namedPerProcess`. */
  const named = (commitIds: ReadonlyArray<string>) =>
    Arr.chunksOf(commitIds, namedPerProcess).map((part) => part.join(" | "))

  /**
   * The named commits with every field, emptiness included, for the few a comparison found missing from the mirror;
   * read by up to `mergeReaders` jj processes at once.
   */
  const changesNamed = (
    location: RepositoryLocation,
    operationId: OperationId,
    commitIds: ReadonlyArray<string>
  ): Stream.Stream<Change, JjError> =>
    Stream.fromIterable(named(commitIds)).pipe(
      Stream.flatMap((revset) => log(location, operationId, revset, changeTemplate("inline"), ChangeLine), {
        concurrency: Math.max(1, mergeReaders)
      }),
      Stream.filterMap((line) => "change" in line ? Option.some(line.change) : Option.none()),
      Stream.withSpan("JjClient.changesNamed", { attributes: { commits: commitIds.length } })
    )

  /** Merges that a diff listed without their emptiness, completed (see `completeMerges`). */
  const pendingMerges = (
    location: RepositoryLocation,
    operationId: OperationId,
    pending: Map<string, CommitFields>
  ): Stream.Stream<Change, JjError> =>
    Stream.suspend(() => completeMerges(location, operationId, pending, named([...pending.keys()])))

  return { changes, visibleCommits, changesNamed, pendingMerges }
}
