import * as NodeContext from "@effect/platform-node/NodeContext"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { Array as Arr, Chunk, Clock, Config, Duration, Effect, Either, Option, Order, Ref, Stream } from "effect"
import type { Scope } from "effect"
import { createHash } from "node:crypto"
import os from "node:os"
import { delimiter } from "node:path"
import type { OperationId } from "./Domain/Ids.js"
import type {
  Bookmark,
  CommitDetails,
  ConflictedCommit,
  Operation,
  PinnedOperation,
  RepositoryLocation,
  Tag,
  Workspace
} from "./Domain/Jj.js"
import {
  JjCommandFailed,
  JjOutputInvalid,
  JjTimeout,
  JjUnavailable,
  NotAJjRepository,
  PreviousOperationMissing,
  PreviousOperationUnrelated
} from "./Domain/JjErrors.js"
import type { JjError } from "./Domain/JjErrors.js"
import { compareVersions, defaultBin } from "./JjClient/Binary.js"
import { makeChangesReader } from "./JjClient/Changes.js"
import { isPinned } from "./JjClient/Command.js"
import type { JjCommand, PinnedCommand } from "./JjClient/Command.js"
import { makeLauncher } from "./JjClient/Launcher.js"
import type { Launched, LaunchFailed } from "./JjClient/Launcher.js"
import { locate as locateIn } from "./JjClient/Locate.js"
import {
  operationDiffArgs,
  operationDiffDecoder,
  operationDiffSettings,
  rootOperationId
} from "./JjClient/OperationDiff.js"
import type { OperationDiffItem, PreviousHeads } from "./JjClient/OperationDiff.js"
import { filterOutput } from "./JjClient/Output.js"
import type { Output } from "./JjClient/Output.js"
import { makeReadViews } from "./JjClient/ReadView.js"
import type { DetailsWanted, LineFormat } from "./JjClient/Templates.js"
import {
  BookmarkLine,
  bookmarkTemplate,
  ConflictLine,
  conflictTemplate,
  DetailsLine,
  evolutionDetailsTemplate,
  filesDetailsTemplate,
  OperationEndLine,
  operationEndTemplate,
  OperationLine,
  operationTemplate,
  VisibleHeadLine,
  visibleHeadTemplate,
  WorkspaceLine,
  workspaceTemplate
} from "./JjClient/Templates.js"

/** The oldest jj release whose templates and output this client is tested against. */
export const minimumJjVersion = "0.45.0"

export const JjConfig = Config.all({
  bin: Config.option(Config.string("JJ_BIN")),
  timeout: Config.duration("JJ_TIMEOUT").pipe(Config.withDefault(Duration.seconds(60))),
  /** An operation diff whose output ends within this many bytes is read in one piece, without a stream. */
  wholeOutputBytes: Config.integer("JJ_WHOLE_OUTPUT_BYTES").pipe(
    Config.withDefault(1 << 20),
    Config.validate({ message: "JJ_WHOLE_OUTPUT_BYTES must be 1 or more", validation: (n) => n >= 1 })
  ),
  /**
   * jj processes that read merges' emptiness apart from the listing of every commit, in parallel, each over its own
   * part of the history; 0 reads it in the listing itself.
   */
  mergeReaders: Config.integer("JJ_MERGE_READERS").pipe(
    // Each reader holds jj's index in memory, so the default is bounded on large machines too.
    Config.withDefault(Math.min(4, os.availableParallelism())),
    Config.validate({ message: "JJ_MERGE_READERS must be 0 or more", validation: (n) => n >= 0 })
  )
})

const opIdPattern = /^[0-9a-f]+$/

/** What reading an operation diff can fail with: jj's failure to find the previous operation is told apart. */
type DiffError = JjError | PreviousOperationMissing | PreviousOperationUnrelated

/** A diff read with the previous operation's working copies only is held in memory up to this many items. */
const maxHeldDiffItems = 1_000

/** Batches of commit details at least this large read their files and their evolution in two jj processes. */
const splitDetailsAbove = 50

/**
 * jj's arguments for a read of the repository as it was at `operationId`, touching nothing. The repository is jj's
 * working directory rather than a `--repository` argument: with that argument jj parses its whole command line three
 * more times, to warn that aliases cannot come from there.
 */
export const pinnedArgs = (operationId: string, rest: ReadonlyArray<string>) => [
  "--ignore-working-copy",
  "--at-operation",
  operationId,
  "--no-pager",
  "--color",
  "never",
  ...rest
]

/**
 * Reads jj repositories through the jj CLI, strictly read-only: every call pins `--at-operation`, passes
 * `--ignore-working-copy`, and runs with a configuration of its own instead of the user's, so it never snapshots a
 * working copy, creates an operation or moves op heads, and user settings (templates, aliases, ui.*) cannot change
 * its output.
 */
export class JjClient extends Effect.Service<JjClient>()("jj-watcher/JjClient", {
  scoped: Effect.gen(function*() {
    const config = yield* JjConfig
    const bin = Option.isSome(config.bin) ? config.bin.value : yield* defaultBin
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const timeoutMs = Duration.toMillis(config.timeout)
    // A directory of our own as JJ_CONFIG replaces the user's configuration files. Its settings spare jj work at
    // start-up that no output of ours depends on (the templates print full ids and use no immutability): indexing
    // every mutable commit for short id prefixes (a cost that grows with the history), parsing the default
    // `immutable_heads()` and `trunk()`, which every command resolves, and building the summary templates, which
    // every workspace command parses up front although our outputs never print them: the default commit summary is
    // a long chain of aliases and lists each commit's bookmarks, so building it indexes every bookmark.
    const configDir = yield* fs.makeTempDirectoryScoped({ prefix: "jj-watcher-config-" }).pipe(Effect.orDie)
    yield* fs.writeFileString(
      path.join(configDir, "config.toml"),
      [
        `revsets.short-prefixes = "none()"`,
        `[revset-aliases]`,
        `"immutable_heads()" = "none()"`,
        `"trunk()" = "none()"`,
        `[templates]`,
        `commit_summary = "commit_id"`,
        `op_summary = "id"`,
        ""
      ].join("\n")
    ).pipe(Effect.orDie)

    const launcher = yield* makeLauncher(configDir).pipe(Effect.orDie)
    const readViews = yield* makeReadViews(path.join(configDir, "views"))
    // COLUMNS spares jj two `tput` processes per call when it has no terminal (it asks tput for the width). With
    // JJ_CONFIG set jj reads no system configuration; XDG_CONFIG_HOME keeps whatever jj would look up or create under
    // the user's config directory (per-repository configuration) in ours.
    const env = {
      JJ_CONFIG: configDir,
      XDG_CONFIG_HOME: path.join(configDir, "xdg"),
      NO_COLOR: "1",
      PAGER: "cat",
      COLUMNS: "1000"
    }
    const unavailable = ({ reason }: LaunchFailed) =>
      new JjUnavailable({
        message: `cannot run ${bin}: ${reason} (set JJ_BIN, or build jj with scripts/install-jj.sh)`
      })

    // A command's own settings (`PinnedCommand.settings`) as a file jj reads after the client's configuration (JJ_CONFIG
    // lists both), named by its content: written once, through a rename so that no jj ever reads it half-written.
    const settingsDir = path.join(configDir, "settings")
    yield* fs.makeDirectory(settingsDir).pipe(Effect.orDie)
    const settingsFiles = new Map<string, string>()
    let settingsWrites = 0
    const settingsFile = (settings: string) =>
      Effect.gen(function*() {
        const known = settingsFiles.get(settings)
        if (known !== undefined) return known
        const name = createHash("sha256").update(settings).digest("hex").slice(0, 32)
        const file = path.join(settingsDir, `${name}.toml`)
        const written = path.join(settingsDir, `.${name}.${++settingsWrites}`)
        yield* fs.writeFileString(written, settings)
        yield* fs.rename(written, file)
        settingsFiles.set(settings, file)
        return file
      }).pipe(
        Effect.mapError((error) => new JjUnavailable({ message: `cannot write jj's settings: ${error.message}` }))
      )

    /**
     * The command line of a `JjCommand`, the directory to run it in and its environment: a pinned one runs in the
     * repository's read view, made on first use (so a repository that is only watched costs no view).
     */
    const commandLine = (
      command: JjCommand
    ): Effect.Effect<{ args: ReadonlyArray<string>; cwd?: string; env: Record<string, string> }, JjError> =>
      isPinned(command)
        ? Effect.gen(function*() {
          const readRoot = yield* readViews.viewOf(command.location).pipe(
            Effect.provideService(FileSystem.FileSystem, fs),
            Effect.provideService(Path.Path, path)
          )
          const settings = command.settings === undefined ? undefined : yield* settingsFile(command.settings)
          return {
            args: pinnedArgs(command.operationId, command.rest),
            cwd: readRoot,
            env: settings === undefined ? env : { ...env, JJ_CONFIG: `${configDir}${delimiter}${settings}` }
          }
        })
        : Effect.succeed({ args: command, env })

    /** Runs jj and streams its stdout line by line; fails with its stderr when it exits non-zero. */
    const lines = (command: JjCommand): Stream.Stream<string, JjError> =>
      Stream.unwrap(Effect.map(commandLine(command), ({ args, cwd, env }) => linesOf(args, cwd, env)))

    // Bounded by inactivity, not by total time (the launcher's `stallAfterMs`): a jj that keeps writing (a large first
    // import) runs as long as it needs, within the sync's own limit; one that writes nothing for `JJ_TIMEOUT` while
    // everything it wrote has been read, or does not exit once its output ended, has stalled, and is killed.
    const start = (args: ReadonlyArray<string>, cwd: string | undefined, env: Record<string, string>) =>
      launcher.start(bin, args, env, cwd, { stallAfterMs: timeoutMs }).pipe(Effect.mapError(unavailable))

    /** A read that fails once the process was killed for stalling fails with the timeout. */
    const readError = (process: Launched, args: ReadonlyArray<string>) => (error: LaunchFailed): JjError =>
      process.stalled() ? new JjTimeout({ args, timeoutMs }) : unavailable(error)

    /** How the process ended, as a failure unless it exited with 0. */
    const exitOf = (process: Launched, args: ReadonlyArray<string>) =>
      Effect.gen(function*() {
        const { exitCode, stderr } = yield* process.ended.pipe(Effect.mapError(unavailable))
        if (process.stalled()) return yield* new JjTimeout({ args, timeoutMs })
        if (exitCode !== 0) return yield* new JjCommandFailed({ args, exitCode, stderr })
      })

    /** The lines of the output that follows `head` (bytes already read), then the exit's failure, if any. */
    const linesAfter = (process: Launched, args: ReadonlyArray<string>, head: Uint8Array) =>
      (head.length === 0 ? process.stdout : Stream.concat(Stream.succeed(head), process.stdout)).pipe(
        Stream.mapError(readError(process, args)),
        Stream.decodeText(),
        Stream.splitLines,
        Stream.concat(Stream.drain(Stream.fromEffect(exitOf(process, args))))
      )

    const linesOf = (
      args: ReadonlyArray<string>,
      cwd: string | undefined,
      env: Record<string, string>
    ): Stream.Stream<string, JjError> =>
      Stream.unwrapScoped(Effect.map(start(args, cwd, env), (process) => linesAfter(process, args, new Uint8Array())))

    /**
     * Decodes lines in a plain loop, skipping empty ones: a first import decodes a line per commit, where an Effect per
     * line would cost more than the decoding itself.
     */
    const decodeAll = <A>(
      args: ReadonlyArray<string>,
      format: LineFormat<A>,
      lines: Iterable<string>
    ): Either.Either<Array<A>, JjOutputInvalid> => {
      const decoded: Array<A> = []
      for (const line of lines) {
        if (line.length === 0) continue
        const result = format.decode(line)
        if (Either.isLeft(result)) {
          return Either.left(new JjOutputInvalid({ args, line: line.slice(0, 1_000), reason: result.left }))
        }
        decoded.push(result.right)
      }
      return Either.right(decoded)
    }

    const decodeLines = <A>(command: JjCommand, format: LineFormat<A>): Stream.Stream<A, JjError> =>
      Stream.unwrap(Effect.map(commandLine(command), ({ args, cwd, env }) =>
        linesOf(args, cwd, env).pipe(
          Stream.mapChunksEffect((chunk) => Effect.map(decodeAll(args, format, chunk), Chunk.unsafeFromArray))
        )))

    /**
     * Runs jj and decodes its output: whole when it ended within `JJ_WHOLE_OUTPUT_BYTES`, else streamed on (the
     * process then belongs to the caller's scope).
     */
    const decodeOutput = <A>(command: JjCommand, format: LineFormat<A>) =>
      Effect.gen(function*() {
        const { args, cwd, env } = yield* commandLine(command)
        const process = yield* start(args, cwd, env)
        const head = yield* process.head(config.wholeOutputBytes).pipe(Effect.mapError(readError(process, args)))
        if (!head.whole) {
          return {
            _tag: "Streamed",
            items: linesAfter(process, args, head.bytes).pipe(
              Stream.mapChunksEffect((chunk) => Effect.map(decodeAll(args, format, chunk), Chunk.unsafeFromArray))
            )
          } satisfies Output<A>
        }
        yield* exitOf(process, args)
        const lines = new TextDecoder().decode(head.bytes).split(/\r?\n/)
        return { _tag: "Whole", items: yield* decodeAll(args, format, lines) } satisfies Output<A>
      })

    /** `rest` at `operationId` of the repository, run in its read view, with `settings` of its own when given. */
    const pinned = (
      location: RepositoryLocation,
      operationId: OperationId,
      rest: ReadonlyArray<string>,
      settings?: string
    ): PinnedCommand => (settings === undefined
      ? { location, operationId, rest }
      : { location, operationId, rest, settings })

    const version = lines(["--version"]).pipe(
      Stream.runCollect,
      Effect.map((chunk) => Arr.fromIterable(chunk).join("\n")),
      Effect.flatMap((output) => {
        const match = /^jj (\d+\.\d+\.\d+)/.exec(output.trim())
        return match?.[1] === undefined
          ? new JjUnavailable({ message: `${bin} --version printed ${JSON.stringify(output)}, not a jj version` })
          : Effect.succeed(match[1])
      }),
      Effect.catchTags({
        JjCommandFailed: (error) => new JjUnavailable({ message: `${bin} --version failed: ${error.stderr}` }),
        JjOutputInvalid: (error) => new JjUnavailable({ message: error.message }),
        JjTimeout: (error) => new JjUnavailable({ message: error.message })
      })
    )

    /**
     * The installed jj's version, asked again at most once a minute (so that an upgraded jj is noticed while the
     * watcher runs); a failure is not remembered.
     */
    const lastVersion = yield* Ref.make<Option.Option<{ readonly version: string; readonly at: number }>>(Option.none())
    const cachedVersion = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const last = yield* Ref.get(lastVersion)
      if (Option.isSome(last) && now - last.value.at < 60_000) return last.value.version
      const current = yield* version
      yield* Ref.set(lastVersion, Option.some({ version: current, at: now }))
      return current
    }).pipe(Effect.withSpan("JjClient.version"))

    /** Fails unless a supported jj is installed; returns its version. */
    const checkVersion = version.pipe(
      Effect.filterOrFail(
        (found) => compareVersions(found, minimumJjVersion) >= 0,
        (found) =>
          new JjUnavailable({
            message: `${bin} is jj ${found}; jj-watcher needs jj ${minimumJjVersion} or newer (scripts/install-jj.sh)`
          })
      ),
      Effect.withSpan("JjClient.checkVersion")
    )

    /**
     * Finds the workspace root, the store (through `.jj/repo` when it is a pointer file) and its op heads, and the
     * read view jj is pointed at (`JjClient/ReadView`).
     */
    const locate = (directory: string) =>
      locateIn(directory).pipe(
        Effect.provideService(FileSystem.FileSystem, fs),
        Effect.provideService(Path.Path, path)
      )

    const operationEnd = (location: RepositoryLocation, operationId: OperationId) =>
      decodeLines(
        pinned(location, operationId, ["op", "log", "--limit", "1", "--no-graph", "-T", operationEndTemplate]),
        OperationEndLine
      )
        .pipe(Stream.runHead, Effect.map(Option.getOrElse(() => new Date(0))))

    /**
     * The operation to read at: the op head, read from disk. With several heads, the one that ended last (ties:
     * the greater id), so the choice is deterministic; no merge operation is ever written.
     */
    const currentOperation = Effect.fn("JjClient.currentOperation")(function*(location: RepositoryLocation) {
      yield* Effect.annotateCurrentSpan("repository", location.workspaceRoot)
      const entries = yield* fs.readDirectory(location.opHeadsPath).pipe(
        Effect.mapError(() =>
          new NotAJjRepository({ path: location.workspaceRoot, reason: `cannot read ${location.opHeadsPath}` })
        )
      )
      const heads = Arr.sort(entries.filter((name) => opIdPattern.test(name)), Order.string) as Array<OperationId>
      if (heads.length === 0) {
        return yield* new NotAJjRepository({ path: location.workspaceRoot, reason: "no operation heads" })
      }
      if (heads.length === 1) return { operationId: heads[0]!, heads } satisfies PinnedOperation
      const ends = yield* Effect.forEach(
        heads,
        (id) => Effect.map(operationEnd(location, id), (end) => ({ id, end }))
      )
      const latest = ends.reduce((best, next) =>
        next.end.getTime() > best.end.getTime() || (next.end.getTime() === best.end.getTime() && next.id > best.id)
          ? next
          : best
      )
      return { operationId: latest.id, heads } satisfies PinnedOperation
    })

    const { changes, changesNamed, pendingMerges, visibleCommits } = makeChangesReader({
      decodeLines,
      pinned,
      mergeReaders: config.mergeReaders
    })

    /**
     * What changed since `previous`, in one jj process (`jj op diff`, see `JjClient/OperationDiff`): the commits
     * that became visible or stopped being visible, whether a bookmark changed, and the pinned operation. jj walks
     * only as far as the two operations' visible heads differ, so the cost follows the change, not the history.
     * jj's failure to find `previous` is told apart.
     *
     * With the previous operation's working copies only, the diff is held until jj has said whether it left commits
     * out; when it did (or printed more than a small diff would), it is read again with that operation's view.
     *
     * A diff that is not read whole (`Output`) is read from a jj process that belongs to the caller's scope.
     */
    const operationDiff = (
      location: RepositoryLocation,
      operationId: OperationId,
      previous: OperationId,
      previousHeads: PreviousHeads
    ): Effect.Effect<Output<OperationDiffItem, DiffError>, DiffError, Scope.Scope> => {
      const toldApart = (error: JjCommandFailed): DiffError =>
        /no operation id matching/i.test(error.stderr) && error.stderr.includes(previous)
          ? new PreviousOperationMissing({ operationId: previous })
          : /commit id [0-9a-f]+ not found in index/i.test(error.stderr)
          ? new PreviousOperationUnrelated({ operationId: previous })
          : error
      const args = (heads: PreviousHeads) => operationDiffArgs(previous, operationId, heads)
      const diff = (heads: PreviousHeads) =>
        decodeOutput(pinned(location, rootOperationId(operationId), args(heads), operationDiffSettings(heads)), {
          decode: operationDiffDecoder(heads._tag === "WorkingCopies" ? "expected" : "invalid")
        }).pipe(Effect.map((output) => filterOutput(output, (item): item is OperationDiffItem => item !== undefined)))
      const read = previousHeads._tag !== "WorkingCopies" ? diff(previousHeads) : Effect.gen(function*() {
        // The process of a diff not read whole ends with the holding: it is read again, or was read to its end.
        const held = yield* Effect.scoped(Effect.flatMap(diff(previousHeads), (first) =>
          first._tag === "Whole"
            ? Effect.succeed(first.items)
            : Effect.map(Stream.runCollect(Stream.take(first.items, maxHeldDiffItems + 1)), Chunk.toReadonlyArray)))
        return held.length > maxHeldDiffItems || held.some((item) => item._tag === "Elided")
          ? yield* diff({ _tag: "Loaded" })
          : { _tag: "Whole", items: held } satisfies Output<OperationDiffItem>
      })
      return read.pipe(
        Effect.map((output): Output<OperationDiffItem, DiffError> =>
          output._tag === "Whole" ? output : {
            _tag: "Streamed",
            items: Stream.catchTag(output.items, "JjCommandFailed", (error) => Stream.fail(toldApart(error)))
          }
        ),
        Effect.catchTag("JjCommandFailed", (error) => Effect.fail(toldApart(error))),
        Effect.withSpan("JjClient.operationDiff")
      )
    }

    /** The visible heads at the pinned operation, sorted. */
    const visibleHeads = (location: RepositoryLocation, operationId: OperationId) =>
      decodeLines(
        pinned(location, operationId, [
          "log",
          "--revisions",
          "visible_heads()",
          "--no-graph",
          "-T",
          visibleHeadTemplate
        ]),
        VisibleHeadLine
      ).pipe(
        Stream.runCollect,
        Effect.map((heads) => Arr.sort(Chunk.toReadonlyArray(heads), Order.string)),
        Effect.withSpan("JjClient.visibleHeads")
      )

    const bookmarkListArgs = ["bookmark", "list", "--all-remotes", "-T", bookmarkTemplate]

    /**
     * jj's listing of every bookmark row (local and remote, `git` included) as printed, in jj's order, for a digest
     * that tells whether anything changed before a line is decoded (`decodeBookmarks`).
     */
    const bookmarkListing = (
      location: RepositoryLocation,
      operationId: OperationId
    ): Effect.Effect<ReadonlyArray<string>, JjError> =>
      lines(pinned(location, operationId, bookmarkListArgs)).pipe(
        Stream.filter((line) => line.length > 0),
        Stream.runCollect,
        Effect.map(Chunk.toReadonlyArray),
        Effect.withSpan("JjClient.bookmarkListing")
      )

    /** The bookmarks of a `bookmarkListing` that point somewhere. */
    const decodeBookmarks = (listing: ReadonlyArray<string>): Effect.Effect<Array<Bookmark>, JjOutputInvalid> => {
      const bookmarks: Array<Bookmark> = []
      for (const line of listing) {
        const decoded = BookmarkLine.decode(line)
        if (Either.isLeft(decoded)) {
          return new JjOutputInvalid({ args: bookmarkListArgs, line: line.slice(0, 1_000), reason: decoded.left })
        }
        if (decoded.right.present) bookmarks.push(decoded.right.bookmark)
      }
      return Effect.succeed(bookmarks)
    }

    /** Every tag that points somewhere, local and remote (`git` included), as jj lists them. */
    const tags = (location: RepositoryLocation, operationId: OperationId): Stream.Stream<Tag, JjError> =>
      decodeLines(pinned(location, operationId, ["tag", "list", "--all-remotes", "-T", bookmarkTemplate]), BookmarkLine)
        .pipe(
          Stream.filterMap((line) => line.present ? Option.some(line.bookmark) : Option.none()),
          Stream.withSpan("JjClient.tags")
        )

    /** Every workspace of the repository and its working-copy commit, at the pinned operation. */
    const workspaces = (location: RepositoryLocation, operationId: OperationId): Stream.Stream<Workspace, JjError> =>
      decodeLines(pinned(location, operationId, ["workspace", "list", "-T", workspaceTemplate]), WorkspaceLine).pipe(
        Stream.withSpan("JjClient.workspaces")
      )

    /** The whole operation log reachable from the pinned operation, newest first, root included. */
    const operations = (location: RepositoryLocation, operationId: OperationId): Stream.Stream<Operation, JjError> =>
      decodeLines(
        pinned(location, operationId, ["op", "log", "--no-graph", "-T", operationTemplate]),
        OperationLine
      ).pipe(Stream.withSpan("JjClient.operations"))

    /**
     * Each conflicted visible commit with its conflicted paths and their number of sides; only among `commitIds`
     * when given.
     */
    const conflicts = (
      location: RepositoryLocation,
      operationId: OperationId,
      commitIds?: ReadonlyArray<string>
    ): Stream.Stream<ConflictedCommit, JjError> =>
      commitIds !== undefined && commitIds.length === 0 ? Stream.empty : decodeLines(
        pinned(location, operationId, [
          "log",
          "--revisions",
          commitIds === undefined ? "conflicts() ~ root()" : `conflicts() & (${commitIds.join(" | ")})`,
          "--no-graph",
          "-T",
          conflictTemplate
        ]),
        ConflictLine
      ).pipe(Stream.withSpan("JjClient.conflicts"))

    /**
     * The details of the named commits (visible at the pinned operation), each once: their changed files with line
     * counts and, from their evolution, their predecessors and the operation that made them, as `wanted` says. The
     * evolution is walked from the pinned operation back only until every named commit was seen (jj is stopped then):
     * a commit made by a recent operation costs a few operations, not the whole log.
     */
    const commitDetails = (
      location: RepositoryLocation,
      operationId: OperationId,
      commitIds: ReadonlyArray<string>,
      wanted: DetailsWanted
    ): Stream.Stream<CommitDetails, JjError> => {
      if (commitIds.length === 0) return Stream.empty
      const revset = commitIds.join(" | ")
      // jj prints a moved file's display path relative to its working directory: the workspace root.
      const files = decodeLines(
        pinned(location, operationId, ["log", "--revisions", revset, "--no-graph", "-T", filesDetailsTemplate]),
        DetailsLine
      )
      const evolution = (withFiles: boolean) =>
        Stream.suspend(() => {
          const asked = new Set(commitIds)
          const seen = new Set<string>()
          return decodeLines(
            pinned(location, operationId, [
              "evolog",
              "--revisions",
              revset,
              "--no-graph",
              "-T",
              evolutionDetailsTemplate(withFiles)
            ]),
            DetailsLine
          ).pipe(
            // Whether each entry is new and whether it is the last one wanted are decided as it passes, since the
            // stream's stages take whole chunks at a time.
            Stream.map((details) => {
              const wanted = asked.has(details.commitId) && !seen.has(details.commitId)
              if (wanted) seen.add(details.commitId)
              return { details, wanted, last: seen.size === asked.size }
            }),
            Stream.takeUntil(({ last }) => last),
            Stream.filterMap(({ details, wanted }) => wanted ? Option.some(details) : Option.none())
          )
        })
      const read = !wanted.predecessors
        ? files
        : !wanted.files || commitIds.length < splitDetailsAbove
        ? evolution(wanted.files)
        // jj's evolog writes each entry as it goes, and an entry with line counts takes a while: read a large batch's
        // files from `jj log`, which writes in blocks, and only the light evolution from the evolog, at once.
        : Stream.unwrap(
          Effect.map(
            Effect.all([Stream.runCollect(files), Stream.runCollect(evolution(false))], { concurrency: 2 }),
            ([filesRead, evolutions]) => {
              const filesOf = new Map(Chunk.toReadonlyArray(filesRead).map((details) => [details.commitId, details]))
              return Stream.fromIterable(evolutions).pipe(
                Stream.filterMap((evolved) =>
                  Option.map(Option.fromNullable(filesOf.get(evolved.commitId)), ({ files }) => ({ ...evolved, files }))
                )
              )
            }
          )
        )
      return read.pipe(Stream.withSpan("JjClient.commitDetails", { attributes: { commits: commitIds.length } }))
    }

    return {
      checkVersion,
      commitDetails,
      version: cachedVersion,
      locate,
      currentOperation,
      changes,
      visibleCommits,
      changesNamed,
      operationDiff,
      visibleHeads,
      pendingMerges,
      bookmarkListing,
      decodeBookmarks,
      operations,
      conflicts,
      tags,
      workspaces
    } as const
  }),
  dependencies: [NodeContext.layer]
}) {}
