import { Array as Arr, Chunk, Effect, Option, Stream } from "effect"
import type { OperationId } from "../Domain/Ids.js"
import type { Change, RepositoryLocation, VisibleCommit } from "../Domain/Jj.js"
import type { JjError } from "../Domain/JjErrors.js"
import { JjOutputInvalid } from "../Domain/JjErrors.js"
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
  readonly decodeLines: <A>(args: ReadonlyArray<string>, format: LineFormat<A>) => Stream.Stream<A, JjError>
  readonly pinned: (
    location: RepositoryLocation,
    operationId: OperationId,
    rest: ReadonlyArray<string>
  ) => Array<string>
  /** jj processes that read merges' emptiness apart from the listing; 0 reads it in the listing. */
  readonly mergeReaders: number
}

export const makeChangesReader = ({ decodeLines, mergeReaders, pinned }: ChangesReaderOptions) => {
  /** Whether each merge of `revset` is empty, in one jj process. */
  const emptiness = (location: RepositoryLocation, operationId: OperationId, revset: string) =>
    decodeLines(
      pinned(location, operationId, ["log", "--revisions", revset, "--no-graph", "-T", emptinessTemplate]),
      EmptinessLine
    ).pipe(Stream.withSpan("JjClient.emptiness", { attributes: { revset } }))

  /**
   * Every visible commit but the root. Whether a merge is empty costs jj a merge of its parents' trees, most of a
   * large import; so the listing leaves it out for merges, and `mergeReaders` jj processes then read it in parallel,
   * each for the merges of its own part of the history. Merges therefore come after the other commits.
   */
  const changes = (location: RepositoryLocation, operationId: OperationId): Stream.Stream<Change, JjError> => {
    const listing = (merges: "inline" | "deferred") =>
      decodeLines(
        pinned(location, operationId, [
          "log",
          "--revisions",
          "all() ~ root()",
          "--no-graph",
          "-T",
          changeTemplate(merges)
        ]),
        ChangeLine
      )
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
    const filled = Stream.suspend(() => {
      const parts = mergeParts([...pending.keys()], mergeReaders)
      return Stream.fromIterable(parts).pipe(
        Stream.flatMap((revset) => emptiness(location, operationId, revset), { concurrency: parts.length }),
        Stream.mapEffect(({ commitId, isEmpty }) => {
          const fields = pending.get(commitId)
          if (fields === undefined) {
            return new JjOutputInvalid({
              args: ["merges()"],
              line: commitId,
              reason: "a merge the listing did not have"
            })
          }
          pending.delete(commitId)
          return Effect.succeed<Change>({ ...fields, isEmpty })
        }),
        Stream.concat(Stream.suspend(() =>
          pending.size === 0 ? Stream.empty : Stream.fail(
            new JjOutputInvalid({
              args: ["merges()"],
              line: [...pending.keys()].slice(0, 3).join(" "),
              reason: `no emptiness for ${pending.size} merges of the listing`
            })
          )
        ))
      )
    })
    return Stream.concat(listed, filled).pipe(Stream.withSpan("JjClient.changes"))
  }

  /** Every visible commit but the root, as ids and divergence only: a comparison with the mirror's commits. */
  const visibleCommits = (location: RepositoryLocation, operationId: OperationId): Stream.Stream<
    VisibleCommit,
    JjError
  > =>
    decodeLines(
      pinned(location, operationId, [
        "log",
        "--revisions",
        "all() ~ root()",
        "--no-graph",
        "-T",
        visibleCommitTemplate
      ]),
      VisibleCommitLine
    ).pipe(Stream.withSpan("JjClient.visibleCommits"))

  /**
   * The named commits with every field, emptiness included, for the few a comparison found missing from the mirror;
   * in parts of at most `namedPerProcess` ids, read by up to `mergeReaders` jj processes at once.
   */
  const changesNamed = (
    location: RepositoryLocation,
    operationId: OperationId,
    commitIds: ReadonlyArray<string>
  ): Stream.Stream<Change, JjError> =>
    Stream.fromIterable(Arr.chunksOf(commitIds, namedPerProcess)).pipe(
      Stream.flatMap((part) =>
        decodeLines(
          pinned(location, operationId, [
            "log",
            "--revisions",
            part.join(" | "),
            "--no-graph",
            "-T",
            changeTemplate("inline")
          ]),
          ChangeLine
        ), { concurrency: Math.max(1, mergeReaders) }),
      Stream.filterMap((line) => "change" in line ? Option.some(line.change) : Option.none()),
      Stream.withSpan("JjClient.changesNamed", { attributes: { commits: commitIds.length } })
    )

  /** Whether each named merge is empty, for merges whose emptiness a listing deferred. */
  const mergeEmptiness = (
    location: RepositoryLocation,
    operationId: OperationId,
    commitIds: ReadonlyArray<string>
  ): Stream.Stream<{ readonly commitId: string; readonly isEmpty: boolean }, JjError> =>
    Stream.fromIterable(Arr.chunksOf(commitIds, namedPerProcess)).pipe(
      Stream.flatMap((part) => emptiness(location, operationId, part.join(" | ")), {
        concurrency: Math.max(1, mergeReaders)
      })
    )

  return { changes, visibleCommits, changesNamed, mergeEmptiness }
}
