import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import fs from "node:fs"
import path from "node:path"
import type { SyncResult } from "../src/Domain/Sync.js"
import { maxKeptHeads } from "../src/Sync/VisibleHeads.js"
import { makeTestLayer } from "./support/database.js"
import { git, initRepo, jj, makeBaseDir, writeFile } from "./support/jj.js"
import { expectDetailsMirrorJj, expectMirrorsJj, expectSameMirror } from "./support/oracle.js"
import { fillDetails, sync } from "./support/sync.js"

/**
 * Randomized differential test of incremental sync. Each sequence applies random jj actions to a fresh repository;
 * after every action the repository is synced incrementally into one row ("inc") and from scratch into a new row
 * ("ref"), and the incremental mirror must equal both the reference mirror and jj itself.
 *
 * Reproduce a failure with the seed it prints: `DIFF_SEED=<seed> npx vitest run test/SyncDifferential.test.ts -t
 * "sequence <i>"`. DIFF_SEQUENCES and DIFF_STEPS make longer runs. The random choices are made by position in jj's
 * own listings, so a seed replays the same actions even though commit and operation ids differ between runs.
 */

const envInteger = (name: string, fallback: number): number => {
  const value = process.env[name]
  if (value === undefined || value === "") return fallback
  const parsed = Number(value)
  if (!Number.isSafeInteger(parsed) || parsed < 0) throw new Error(`${name} must be a non-negative integer: ${value}`)
  return parsed
}

const seed = envInteger("DIFF_SEED", 20_250_101)
const sequenceCount = envInteger("DIFF_SEQUENCES", 4)
const stepCount = envInteger("DIFF_STEPS", 25)

/** mulberry32: a small, fast, seedable PRNG (32-bit state). */
const mulberry32 = (state: number) => () => {
  state = (state + 0x6d2b79f5) | 0
  let t = Math.imul(state ^ (state >>> 15), 1 | state)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
}

class Random {
  private readonly next: () => number
  constructor(state: number) {
    this.next = mulberry32(state)
  }
  int(n: number): number {
    return Math.floor(this.next() * n)
  }
  chance(p: number): boolean {
    return this.next() < p
  }
  pick<A>(items: ReadonlyArray<A>): A {
    if (items.length === 0) throw new NoCandidate("nothing to pick from")
    return items[this.int(items.length)]!
  }
  weighted<A>(entries: ReadonlyArray<readonly [A, number]>): A {
    const total = entries.reduce((sum, [, weight]) => sum + weight, 0)
    let roll = this.next() * total
    for (const [value, weight] of entries) {
      roll -= weight
      if (roll < 0) return value
    }
    return entries[entries.length - 1]![0]
  }
}

/** An action that cannot apply to the repository as it is (no conflict to resolve, ...): pick another one. */
class NoCandidate extends Error {}

/** A failing jj command (non-zero exit): the action is skipped and another one picked. */
const isJjFailure = (error: unknown): error is Error & { readonly stderr: unknown } =>
  error instanceof Error && "stderr" in error && "status" in error

const files = ["a.txt", "b.txt", "c.txt", "dir/d.txt"] as const
/** Where a rename may move a file. */
const renamedFiles = ["moved/e.txt", "f.txt"] as const
// `main`, `master` and `trunk` all compete for the default bookmark.
const bookmarkNames = ["main", "master", "feature", "topic/x"] as const
const tagNames = ["v1", "v2", "release/x"] as const
const workspaceNames = ["second", "odd name"] as const
const words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"] as const

/** One random sequence: its repository, its PRNG and the jj commands run by the current step. */
class Sequence {
  readonly random: Random
  readonly repo: string
  readonly log: Array<string> = []
  /** The directories of the workspaces this sequence added, by name. */
  readonly workspaces = new Map<string, string>()
  /** A bare git repository the sequence pushes to and fetches from, as the remote `origin`. */
  readonly remote: string
  constructor(readonly label: string, readonly name: string, base: string, state: number) {
    this.random = new Random(state)
    this.repo = initRepo(base, "diff", name)
    this.remote = path.join(base, "remotes", `${name}.git`)
    fs.mkdirSync(this.remote, { recursive: true })
    git(this.remote, "init", "--quiet", "--bare")
    jj(this.repo, "git", "remote", "add", "origin", this.remote)
  }

  /** Runs jj (never with an editor), recording the command for failure messages. */
  run(...args: ReadonlyArray<string>): string {
    const shown = `jj ${args.map((arg) => /^[0-9a-f]{40}$/.test(arg) ? arg.slice(0, 12) : arg).join(" ")}`
    try {
      const output = jj(this.repo, "--config=ui.editor=false", ...args)
      this.log.push(shown)
      return output
    } catch (error) {
      if (isJjFailure(error)) {
        const reason = String(error.stderr).split("\n").find((line) => line.startsWith("Error")) ?? "failed"
        this.log.push(`${shown} ✗ ${reason}`)
      }
      throw error
    }
  }

  /** Reads jj without snapshotting and without recording the command. */
  read(...args: ReadonlyArray<string>): Array<string> {
    return jj(this.repo, "--ignore-working-copy", ...args).split("\n").filter((line) => line !== "")
  }

  commits(revset = "all() ~ root()", atOp?: string): Array<string> {
    const at = atOp === undefined ? [] : ["--at-op", atOp]
    return this.read(...at, "log", "--no-graph", "-r", revset, "-T", `commit_id ++ "\\n"`)
  }

  root(): string {
    return this.commits("root()")[0]!
  }

  operations(limit: number): Array<string> {
    return this.read("op", "log", "--no-graph", "-n", String(limit), "-T", `id ++ "\\n"`)
  }

  bookmarks(): Array<string> {
    return this.read("bookmark", "list", "-T", `if(remote, "", name ++ "\\n")`)
  }

  /** Bookmarks of `origin` as `name@origin`, tracked or not. */
  remoteBookmarks(): Array<string> {
    return this.read("bookmark", "list", "--all-remotes", "-T", `if(remote == "origin", name ++ "@origin\\n", "")`)
  }

  message(): string {
    const title = `${this.random.pick(words)} ${this.random.pick(words)} ${this.random.int(100)}`
    return this.random.chance(0.2) ? `${title}\n\n${this.random.pick(words)} body line` : title
  }

  content(): string {
    return Array.from({ length: 1 + this.random.int(3) }, () => this.random.pick(words)).join("\n") + "\n"
  }

  write(file: string, content = this.content()) {
    writeFile(this.repo, file, content)
    this.log.push(`write ${file}`)
  }

  remove(file: string) {
    fs.rmSync(path.join(this.repo, file), { force: true })
    this.log.push(`remove ${file}`)
  }

  /** Edits a file or two in the working copy; jj sees them at its next snapshot. */
  editFiles() {
    for (let n = 1 + this.random.int(2); n > 0; n--) {
      const file = this.random.pick(files)
      if (this.random.chance(0.15)) this.remove(file)
      else this.write(file)
    }
  }
}

type Action = (s: Sequence) => void

const actions: ReadonlyArray<readonly [string, Action, number]> = [
  ["new", (s) => {
    const roll = s.random.int(10)
    if (roll < 5) s.run("new", "-m", s.message())
    else if (roll < 8) s.run("new", s.random.pick([...s.commits(), s.root()]), "-m", s.message())
    else {
      const commits = s.commits()
      const first = s.random.pick(commits)
      const second = s.random.pick(commits.filter((c) => c !== first))
      s.run("new", first, second, "-m", `merge ${s.message()}`)
    }
  }, 10],
  ["edit and snapshot", (s) => {
    s.editFiles()
    s.run("status")
  }, 12],
  ["edit without snapshot", (s) => s.editFiles(), 2],
  ["rename and snapshot", (s) => {
    const names = [...files, ...renamedFiles]
    const present = names.filter((file) => fs.existsSync(path.join(s.repo, file)))
    const absent = names.filter((file) => !present.includes(file))
    if (present.length === 0 || absent.length === 0) throw new NoCandidate()
    const [from, to] = [s.random.pick(present), s.random.pick(absent)]
    fs.mkdirSync(path.dirname(path.join(s.repo, to)), { recursive: true })
    fs.renameSync(path.join(s.repo, from), path.join(s.repo, to))
    s.log.push(`rename ${from} ${to}`)
    // Sometimes with an edit: a rename jj still finds by similarity.
    if (s.random.chance(0.3)) fs.appendFileSync(path.join(s.repo, to), `${s.random.pick(words)}\n`)
    s.run("status")
  }, 3],
  ["describe", (s) => {
    s.run("describe", "-r", s.random.chance(0.4) ? "@" : s.random.pick(s.commits()), "-m", s.message())
  }, 6],
  ["commit", (s) => {
    s.editFiles()
    s.run("commit", "-m", s.message())
  }, 8],
  ["rebase", (s) => {
    const source = s.random.pick(s.commits())
    const destination = s.random.pick(s.commits(`all() ~ ${source}::`).concat(s.root()))
    s.run("rebase", s.random.chance(0.7) ? "-r" : "-s", source, "-d", destination)
  }, 6],
  ["squash", (s) => {
    if (s.random.chance(0.5)) s.run("squash", "-m", s.message())
    else s.run("squash", "-r", s.random.pick(s.commits("all() ~ root() ~ root()+")), "-m", s.message())
  }, 4],
  ["abandon", (s) => {
    s.run("abandon", s.random.pick(s.commits()))
  }, 4],
  ["bookmark", (s) => {
    const existing = s.bookmarks()
    const target = s.random.pick(s.commits())
    const roll = s.random.int(10)
    if (roll < 4) s.run("bookmark", "set", s.random.pick(bookmarkNames), "-r", target, "--allow-backwards")
    else if (roll < 6) s.run("bookmark", "create", s.random.pick(bookmarkNames), "-r", target)
    else if (roll < 8) s.run("bookmark", "move", s.random.pick(existing), "--to", target, "--allow-backwards")
    else s.run("bookmark", "delete", s.random.pick(existing))
  }, 10],
  // A merge whose parents changed different files, sometimes with changes of its own (not empty for jj).
  ["merge with real trees", (s) => {
    const commits = s.commits()
    const first = s.random.pick(commits)
    const second = s.random.pick(commits.filter((c) => c !== first))
    s.run("new", first, second, "-m", `merge ${s.message()}`)
    if (s.random.chance(0.5)) {
      s.editFiles()
      s.run("status")
    }
  }, 4],
  // Several bookmarks moved by one operation, as a push of many branches or a forge's bulk update does.
  ["bulk bookmark move", (s) => {
    const names = bookmarkNames.filter(() => s.random.chance(0.6))
    if (names.length === 0) throw new NoCandidate("no bookmark names drawn")
    s.run("bookmark", "set", ...names, "-r", s.random.pick(s.commits()), "--allow-backwards")
  }, 3],
  ["concurrent operations", (s) => {
    // A second operation from an older operation leaves two op heads, as two jj processes racing would.
    const op = s.random.pick(s.operations(s.random.chance(0.7) ? 1 : 3))
    const first = s.random.pick(s.commits())
    if (s.random.chance(0.6)) {
      s.run("describe", "-r", first, "-m", s.message())
      // Describing the same change from both operations makes it divergent.
      const second = s.random.chance(0.6) ? first : s.random.pick(s.commits("all() ~ root()", op))
      s.run("--at-op", op, "--ignore-working-copy", "describe", "-r", second, "-m", s.message())
    } else {
      // The same bookmark set to two commits from two operations is a conflicted bookmark.
      const name = s.random.pick(bookmarkNames)
      s.run("bookmark", "set", name, "-r", first, "--allow-backwards")
      const second = s.random.pick(s.commits("all() ~ root()", op))
      s.run("--at-op", op, "--ignore-working-copy", "bookmark", "set", name, "-r", second, "--allow-backwards")
    }
    // Sometimes a jj command merges the two heads before the sync; otherwise the sync sees both.
    if (s.random.chance(0.5)) s.run("log", "-r", "@")
  }, 8],
  ["tag", (s) => {
    const existing = s.read("tag", "list", "-T", `if(remote, "", name ++ "\\n")`)
    const target = s.random.pick(s.commits())
    if (existing.length === 0 || s.random.chance(0.7)) {
      s.run("tag", "set", s.random.pick(tagNames), "-r", target, "--allow-move")
    } else s.run("tag", "delete", s.random.pick(existing))
  }, 5],
  ["concurrent tags", (s) => {
    // The same tag set to two commits from two operations is a conflicted tag.
    const op = s.random.pick(s.operations(1))
    const name = s.random.pick(tagNames)
    s.run("tag", "set", name, "-r", s.random.pick(s.commits()), "--allow-move")
    s.run(
      "--at-op",
      op,
      "--ignore-working-copy",
      "tag",
      "set",
      name,
      "-r",
      s.random.pick(s.commits("all() ~ root()", op)),
      "--allow-move"
    )
    if (s.random.chance(0.5)) s.run("log", "-r", "@")
  }, 2],
  ["workspace", (s) => {
    // A workspace added beside the repository, or forgotten; a new commit there moves its @.
    const existing = s.read("workspace", "list", "-T", `name ++ "\\n"`).filter((name) => name !== "default")
    const missing = workspaceNames.filter((name) => !existing.includes(name))
    const roll = s.random.int(10)
    if (missing.length > 0 && (existing.length === 0 || roll < 4)) {
      const name = s.random.pick(missing)
      const directory = `${s.repo}-${name}-${s.workspaces.size}`
      s.run("workspace", "add", "--name", name, "-r", s.random.pick(s.commits()), directory)
      s.workspaces.set(name, directory)
    } else if (existing.length > 0 && roll < 7) {
      const directory = s.workspaces.get(s.random.pick(existing))
      if (directory === undefined) throw new NoCandidate("a workspace this sequence did not add")
      s.run("-R", directory, "new", "-m", s.message())
    } else if (existing.length > 0) s.run("workspace", "forget", s.random.pick(existing))
    else throw new NoCandidate("no workspace to use")
  }, 4],
  ["push", (s) => {
    // Fails (and another action is picked) for a conflicted commit or bookmark.
    s.run("git", "push", "--remote", "origin", "--allow-empty-description", "-b", s.random.pick(s.bookmarks()))
  }, 8],
  ["fetch", (s) => {
    // Sometimes the remote moves first, as another clone pushing would: one branch to another's commit.
    const branches = git(s.remote, "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads")
      .split("\n").filter((line) => line !== "").map((line) => line.split(" ") as [string, string])
    if (branches.length > 1 && s.random.chance(0.6)) {
      const [moved] = s.random.pick(branches)
      const [, target] = s.random.pick(branches)
      git(s.remote, "update-ref", `refs/heads/${moved}`, target)
      s.log.push(`git update-ref ${moved} ${target.slice(0, 12)} (in origin)`)
    }
    s.run("git", "fetch", "--remote", "origin")
  }, 5],
  ["track or untrack", (s) => {
    s.run("bookmark", s.random.chance(0.5) ? "untrack" : "track", s.random.pick(s.remoteBookmarks()))
  }, 3],
  ["undo", (s) => {
    s.run("undo")
  }, 4],
  ["redo", (s) => {
    s.run("redo")
  }, 3],
  ["op restore", (s) => {
    s.run("op", "restore", s.random.pick(s.operations(6).slice(1)))
  }, 3],
  ["op revert", (s) => {
    s.run("op", "revert", s.random.pick(s.operations(6).slice(0, -1)))
  }, 3],
  ["make a conflict", (s) => {
    // Two siblings write the same file differently, then a merge or a rebase brings them together.
    const file = s.random.pick(files)
    const base = s.random.pick([...s.commits(), s.root()])
    s.run("new", base, "-m", `left ${s.message()}`)
    s.write(file, `left ${s.content()}`)
    s.run("status")
    const left = s.commits("@")[0]!
    s.run("new", base, "-m", `right ${s.message()}`)
    s.write(file, `right ${s.content()}`)
    s.run("status")
    const right = s.commits("@")[0]!
    if (s.random.chance(0.5)) s.run("new", left, right, "-m", `merge ${s.message()}`)
    else s.run("rebase", "-r", right, "-d", left)
  }, 6],
  ["resolve a conflict", (s) => {
    const conflicted = s.random.pick(s.commits("conflicts()"))
    const [line] = s.read("resolve", "--list", "-r", conflicted)
    const file = /^(.*?)\s+\d+-sided conflict/.exec(line ?? "")?.[1]
    if (file === undefined) throw new NoCandidate(`no conflicted file in ${conflicted}`)
    // Resolve in the conflicted commit itself, or in a new child of it.
    if (s.commits("@")[0] !== conflicted) {
      if (s.random.chance(0.5)) s.run("edit", conflicted)
      else s.run("new", conflicted, "-m", `resolve ${s.message()}`)
    }
    s.write(file, `resolved ${s.content()}`)
    s.run("status")
  }, 8]
]

/** Applies one random action; a jj command that fails (or an action with nothing to act on) picks another one. */
const applyRandomAction = (s: Sequence): string => {
  s.log.length = 0
  const tried: Array<string> = []
  for (let attempt = 0; attempt < 12; attempt++) {
    const [name, action] = s.random.weighted(actions.map((entry) => [entry, entry[2]] as const))
    const mark = s.log.length
    try {
      action(s)
      return [...tried, `${name}: ${s.log.slice(mark).join("; ")}`].join(" | ")
    } catch (error) {
      if (!(error instanceof NoCandidate) && !isJjFailure(error)) throw error
      tried.push(`(${name} skipped: ${s.log.slice(mark).join("; ") || error.message.split("\n")[0]})`)
    }
  }
  return `${tried.join(" | ")} (no action applied)`
}

const opHeads = (repo: string) => fs.readdirSync(path.join(repo, ".jj", "repo", "op_heads", "heads")).sort()

/** Syncs the step incrementally and from scratch, and checks the incremental mirror against both and against jj. */
const syncAndCompare = (s: Sequence, step: number, message: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const inc = yield* sync(s.repo, { owner: "inc", name: s.name })
    yield* fillDetails(inc.repositoryId)
    const ref = yield* sync(s.repo, { owner: "ref", name: `${s.name}-${step}`, full: true })
    expect(ref.mode, message).toBe("full")
    expect(inc.upToDate, message).toBe(inc.mode === "unchanged")
    expect(inc.fullReason === null, message).toBe(inc.mode !== "full")

    // Nothing ran jj between the two syncs, so both read the same operation.
    const heads = opHeads(s.repo)
    expect(inc.operationId, message).toBe(ref.operationId)
    expect(heads, message).toContain(inc.operationId)
    expect([...inc.operationHeads].sort(), message).toEqual(heads)
    expect(inc.divergentOperations, message).toBe(heads.length > 1)

    yield* expectSameMirror(inc.repositoryId, ref.repositoryId, message)
    expect(inc.counts, message).toEqual(ref.counts)
    // The visible heads the incremental syncs carried from diff to diff are jj's at the synced operation.
    const [stored] = yield* sql<{ readonly visibleHeads: ReadonlyArray<string> | null }>`
      SELECT visible_heads FROM repositories WHERE id = ${inc.repositoryId}
    `
    const jjHeads = jj(
      s.repo,
      "--ignore-working-copy",
      "--at-operation",
      inc.operationId,
      "log",
      "--no-graph",
      "-r",
      "visible_heads()",
      "-T",
      "commit_id ++ \"\\n\""
    ).split("\n").filter((line) => line !== "").sort()
    expect(stored?.visibleHeads, `${message} visible heads`).toEqual(jjHeads.length > maxKeptHeads ? [] : jjHeads)
    expect(inc.changesTruncated, message).toBe(false)
    // With two op heads jj's listings would merge them (writing an operation); the next step compares with jj.
    if (heads.length === 1) {
      yield* expectMirrorsJj(inc.repositoryId, s.repo, message)
      yield* expectDetailsMirrorJj(inc.repositoryId, s.repo, message)
    }

    yield* sql`DELETE FROM repositories WHERE id = ${ref.repositoryId}`
    return inc
  })

const base = makeBaseDir("sync-diff")

layer(makeTestLayer("sync_diff"), { timeout: "120 seconds", excludeTestServices: true })(
  `incremental sync equals a full sync and jj, over random jj histories (DIFF_SEED=${seed})`,
  (it) => {
    for (let index = 0; index < sequenceCount; index++) {
      it.effect(`sequence ${index} (seed ${seed}, ${stepCount} steps)`, () =>
        Effect.gen(function*() {
          const label = `seed ${seed} sequence ${index}`
          const s = new Sequence(label, `seq${index}`, base, seed ^ Math.imul(index + 1, 0x9e3779b9))
          const first = yield* syncAndCompare(s, 0, `${label} step 0: jj git init`)
          expect(first.mode, label).toBe("full")

          const modes: Record<SyncResult["mode"], number> = { unchanged: 0, incremental: 0, full: 0 }
          const fullAfterFirst: Array<string> = []
          for (let step = 1; step <= stepCount; step++) {
            const action = applyRandomAction(s)
            const message = `${label} step ${step}: ${action}`
            const result = yield* syncAndCompare(s, step, message)
            modes[result.mode]++
            // Concurrent operations can leave the synced operation off the new head's ancestry; then jj cannot
            // compute the difference and a full sync is the expected answer.
            if (result.mode === "full" && result.fullReason !== "previous-operation-unrelated") {
              fullAfterFirst.push(`step ${step} (${result.fullReason}): ${action}`)
            }
          }

          // No sequence abandons operations or changes versions: every other sync after the first that read
          // anything should have been incremental.
          expect(fullAfterFirst, `${label}: sync modes after the first ${JSON.stringify(modes)}`).toEqual([])
          expect(modes.incremental, label).toBeGreaterThan(0)
        }), 90_000)
    }
  }
)
