import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import fs from "node:fs"
import os from "node:os"
import path from "node:path"

/** Test-side jj: makes repositories and operations (the watcher itself never writes), and reads jj as the oracle. */

export const jjBin = process.env["JJ_BIN"] ?? "jj"

const configDir = fs.mkdtempSync(path.join(os.tmpdir(), "jj-watcher-test-config-"))
fs.writeFileSync(
  path.join(configDir, "config.toml"),
  [
    `user.name = "Test User"`,
    `user.email = "test@example.com"`,
    `ui.color = "never"`,
    `ui.paginate = "never"`,
    `snapshot.auto-track = "all()"`,
    // A command that would open an editor fails instead of waiting for one.
    `ui.editor = "false"`
  ].join("\n")
)

const env = { ...process.env, JJ_CONFIG: configDir }

export const jj = (cwd: string, ...args: ReadonlyArray<string>): string =>
  execFileSync(jjBin, args, { cwd, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })

export const git = (cwd: string, ...args: ReadonlyArray<string>): string =>
  execFileSync("git", args, { cwd, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })

export const makeBaseDir = (label: string) => fs.mkdtempSync(path.join(os.tmpdir(), `jj-watcher-${label}-`))

/** `jj git init` of `<base>/<owner>/<name>`; returns its path. */
export const initRepo = (base: string, owner: string, name: string): string => {
  const dir = path.join(base, owner, name)
  fs.mkdirSync(path.dirname(dir), { recursive: true })
  jj(path.dirname(dir), "git", "init", name)
  return dir
}

export const writeFile = (repo: string, file: string, content: string) => {
  fs.mkdirSync(path.dirname(path.join(repo, file)), { recursive: true })
  fs.writeFileSync(path.join(repo, file), content)
}

/** The operation the repository is at (after jj has merged any concurrent heads). */
export const headOperation = (repo: string): string => jj(repo, "op", "log", "--no-graph", "-n", "1", "-T", "id").trim()

export const changeIdOf = (repo: string, revset: string): string =>
  jj(repo, "log", "--ignore-working-copy", "--no-graph", "-r", revset, "-T", "change_id").trim()

export const commitIdOf = (repo: string, revset: string): string =>
  jj(repo, "log", "--ignore-working-copy", "--no-graph", "-r", revset, "-T", "commit_id").trim()

/** jj's read caches: the only part of `.jj` a read may write (`repo/index`, `repo/store/extra`). */
const readCaches = new Set([path.join("repo", "index"), path.join("repo", "store", "extra")])

/**
 * Every entry of a workspace's `.jj` but jj's read caches, with what would show a write: its type, size, mode,
 * modification time, link target and a digest of its bytes. Two snapshots are equal when nothing was written.
 */
export const snapshotDotJj = (workspace: string): Record<string, string> => {
  const root = path.join(workspace, ".jj")
  const entries: Record<string, string> = {}
  const walk = (current: string) => {
    for (const name of fs.readdirSync(current).sort()) {
      const full = path.join(current, name)
      const relative = path.relative(root, full)
      if (readCaches.has(relative)) continue
      const stat = fs.lstatSync(full)
      const common = `mode ${stat.mode.toString(8)} mtime ${stat.mtimeMs}`
      if (stat.isSymbolicLink()) {
        entries[relative] = `link -> ${fs.readlinkSync(full)} ${common}`
      } else if (stat.isDirectory()) {
        entries[relative] = `directory ${common}`
        walk(full)
      } else {
        const digest = createHash("sha256").update(fs.readFileSync(full)).digest("hex")
        entries[relative] = `file ${stat.size} bytes ${digest} ${common}`
      }
    }
  }
  walk(root)
  return entries
}

// The oracle: jj's own listings, in plain text templates independent of the watcher's JSON ones, read at the
// current head without touching the working copy.

const lines = (output: string) => output.split("\n").filter((line) => line !== "")

/** jj's output for a read at the current head, or at operation `at` when given. */
const read = (repo: string, at: string | undefined, ...args: ReadonlyArray<string>): string =>
  jj(repo, ...(at === undefined ? [] : ["--at-operation", at]), ...args)
const iso = (timestamp: string) => `timestamp.utc().format("%Y-%m-%dT%H:%M:%S%.3fZ")`.replace("timestamp", timestamp)

export interface OracleChange {
  readonly commitId: string
  readonly changeId: string
  readonly parentCommitIds: ReadonlyArray<string>
  readonly description: string
  readonly authorName: string
  readonly authorEmail: string
  readonly timestamp: string
  readonly committerName: string
  readonly committerEmail: string
  readonly committerTimestamp: string
  readonly isEmpty: boolean
  readonly hasConflicts: boolean
  readonly isDivergent: boolean
}

export const jjLog = (repo: string, at?: string): Array<OracleChange> =>
  lines(read(
    repo,
    at,
    "log",
    "--ignore-working-copy",
    "--no-graph",
    "-r",
    "all() ~ root()",
    "-T",
    [
      "commit_id",
      "change_id",
      `parents.map(|c| c.commit_id()).join(",")`,
      "description.escape_json()",
      "author.name().escape_json()",
      "stringify(author.email()).escape_json()",
      iso("author.timestamp()"),
      "committer.name().escape_json()",
      "stringify(committer.email()).escape_json()",
      iso("committer.timestamp()"),
      "empty",
      "conflict",
      "divergent"
    ].join(` ++ "\\t" ++ `) + ` ++ "\\n"`
  )).map((line) => {
    const f = line.split("\t")
    const text = (i: number) => JSON.parse(f[i]!) as string
    return {
      commitId: f[0]!,
      changeId: f[1]!,
      parentCommitIds: f[2] === "" ? [] : f[2]!.split(","),
      description: text(3),
      authorName: text(4),
      authorEmail: text(5),
      timestamp: f[6]!,
      committerName: text(7),
      committerEmail: text(8),
      committerTimestamp: f[9]!,
      isEmpty: f[10] === "true",
      hasConflicts: f[11] === "true",
      isDivergent: f[12] === "true"
    }
  })

export interface OracleBookmark {
  readonly name: string
  readonly remote: string
  readonly targetCommitIds: ReadonlyArray<string>
  readonly isConflicted: boolean
  readonly isTracked: boolean
}

export const jjBookmarkList = (repo: string, at?: string): Array<OracleBookmark> => refList("bookmark", repo, at)

/** `jj tag list --all-remotes`, in the same shape as bookmarks. */
export const jjTagList = (repo: string, at?: string): Array<OracleBookmark> => refList("tag", repo, at)

const refList = (command: "bookmark" | "tag", repo: string, at: string | undefined): Array<OracleBookmark> =>
  lines(read(
    repo,
    at,
    command,
    "list",
    "--ignore-working-copy",
    "--all-remotes",
    "-T",
    `if(present, name ++ "\\t" ++ if(remote, remote, "") ++ "\\t" ++ added_targets.map(|c| c.commit_id()).join(",")` +
      ` ++ "\\t" ++ conflict ++ "\\t" ++ if(remote, tracked, false) ++ "\\n")`
  )).map((line) => {
    const [name, remote, targets, conflict, tracked] = line.split("\t")
    return {
      name: name!,
      remote: remote!,
      targetCommitIds: targets!.split(",").filter((id) => id !== ""),
      isConflicted: conflict === "true",
      isTracked: tracked === "true"
    }
  })

export interface OracleWorkspace {
  readonly name: string
  readonly workingCopyCommitId: string
  readonly workingCopyChangeId: string
}

/** `jj workspace list`: each workspace's working-copy commit. */
export const jjWorkspaceList = (repo: string, at?: string): Array<OracleWorkspace> =>
  lines(read(
    repo,
    at,
    "workspace",
    "list",
    "--ignore-working-copy",
    "-T",
    // `name` prints as a revset symbol (quoted when odd); stringify gives the name itself.
    `stringify(name).escape_json() ++ "\\t" ++ target.commit_id() ++ "\\t" ++ target.change_id() ++ "\\n"`
  )).map((line) => {
    const [name, commitId, changeId] = line.split("\t")
    return { name: JSON.parse(name!) as string, workingCopyCommitId: commitId!, workingCopyChangeId: changeId! }
  })

export interface OracleOperation {
  readonly operationId: string
  readonly parentOperationIds: ReadonlyArray<string>
  readonly description: string
  readonly user: string
  readonly endTime: string
  readonly isSnapshot: boolean
}

export const jjOpLog = (repo: string, at?: string): Array<OracleOperation> =>
  lines(read(
    repo,
    at,
    "op",
    "log",
    "--ignore-working-copy",
    "--no-graph",
    "-T",
    [
      "id",
      `parents.map(|o| o.id()).join(",")`,
      "description.escape_json()",
      "user.escape_json()",
      iso("time.end()"),
      "snapshot"
    ].join(` ++ "\\t" ++ `) + ` ++ "\\n"`
  )).map((line) => {
    const f = line.split("\t")
    return {
      operationId: f[0]!,
      parentOperationIds: f[1] === "" ? [] : f[1]!.split(","),
      description: JSON.parse(f[2]!) as string,
      user: JSON.parse(f[3]!) as string,
      endTime: f[4]!,
      isSnapshot: f[5] === "true"
    }
  })

export interface OracleConflict {
  readonly commitId: string
  readonly changeId: string
  readonly filePath: string
  readonly sides: number
}

/** `jj resolve --list` for every conflicted visible commit. */
export const jjResolveList = (repo: string, at?: string): Array<OracleConflict> =>
  lines(
    read(
      repo,
      at,
      "log",
      "--ignore-working-copy",
      "--no-graph",
      "-r",
      "conflicts()",
      "-T",
      `commit_id ++ " " ++ change_id ++ "\\n"`
    )
  )
    .flatMap((line) => {
      const [commitId, changeId] = line.split(" ")
      return lines(read(repo, at, "resolve", "--ignore-working-copy", "--list", "-r", commitId!)).map((entry) => {
        const match = /^(.*?)\s+(\d+)-sided conflict/.exec(entry)
        if (match === null) throw new Error(`unexpected jj resolve --list line: ${entry}`)
        return { commitId: commitId!, changeId: changeId!, filePath: match[1]!, sides: Number(match[2]) }
      })
    })

export interface OracleChangeFile {
  readonly commitId: string
  readonly path: string
  readonly status: string
  readonly sourcePath: string | null
  readonly linesAdded: number
  readonly linesRemoved: number
}

/**
 * The files each visible commit changed, from jj's git-format patches (`jj log --git`, one process): the status from
 * the headers (new, deleted, rename, copy), the line counts from the `+` and `-` lines of each file's hunks.
 */
export const jjChangeFiles = (repo: string, at?: string): Array<OracleChangeFile> => {
  const output = read(
    repo,
    at,
    "log",
    "--ignore-working-copy",
    "--no-graph",
    "-r",
    "all() ~ root()",
    "--git",
    "-T",
    `"\\ncommit " ++ commit_id ++ "\\n"`
  )
  const files: Array<OracleChangeFile> = []
  let commitId = ""
  let current: {
    commitId: string
    path: string
    status: string
    sourcePath: string | null
    added: number
    removed: number
  } | undefined
  const flush = () => {
    if (current === undefined) return
    files.push({
      commitId: current.commitId,
      path: current.path,
      status: current.status,
      sourcePath: current.sourcePath,
      linesAdded: current.added,
      linesRemoved: current.removed
    })
    current = undefined
  }
  let inHunk = false
  for (const line of output.split("\n")) {
    const commit = /^commit ([0-9a-f]{40})$/.exec(line)
    if (commit !== null && !inHunk) {
      flush()
      commitId = commit[1]!
      continue
    }
    const header = /^diff --git a\/(.*) b\/(.*)$/.exec(line)
    if (header !== null) {
      flush()
      inHunk = false
      current = { commitId, path: header[2]!, status: "modified", sourcePath: null, added: 0, removed: 0 }
      continue
    }
    if (current === undefined) continue
    if (!inHunk) {
      if (line.startsWith("new file mode")) current.status = "added"
      else if (line.startsWith("deleted file mode")) current.status = "removed"
      else if (line.startsWith("rename from ")) {
        current.status = "renamed"
        current.sourcePath = line.slice(12)
      } else if (line.startsWith("copy from ")) {
        current.status = "copied"
        current.sourcePath = line.slice(10)
      } else if (line.startsWith("@@")) inHunk = true
      continue
    }
    if (line.startsWith("@@")) continue
    if (line.startsWith("+")) current.added++
    else if (line.startsWith("-")) current.removed++
    else if (!line.startsWith(" ") && !line.startsWith("\\")) inHunk = false
  }
  flush()
  return files
}

export interface OraclePredecessor {
  readonly commitId: string
  readonly predecessorCommitId: string
  readonly operationId: string | null
}

/**
 * Each visible commit's immediate predecessors and the operation that made it: its own entry of `jj evolog` (the
 * first of `jj evolog -r <commit>`), read for every visible commit in one walk.
 */
export const jjPredecessors = (repo: string, at?: string): Array<OraclePredecessor> => {
  const visible = new Set(
    lines(
      read(repo, at, "log", "--ignore-working-copy", "--no-graph", "-r", "all() ~ root()", "-T", `commit_id ++ "\\n"`)
    )
  )
  const seen = new Set<string>()
  return lines(read(
    repo,
    at,
    "evolog",
    "--ignore-working-copy",
    "--no-graph",
    "-r",
    "all() ~ root()",
    "-T",
    `commit.commit_id() ++ "\\t" ++ if(operation, operation.id(), "") ++ "\\t" ++ ` +
      `predecessors.map(|p| p.commit_id()).join(",") ++ "\\n"`
  )).flatMap((entry) => {
    const [commitId = "", operationId, predecessors] = entry.split("\t")
    if (!visible.has(commitId) || seen.has(commitId)) return []
    seen.add(commitId)
    return (predecessors ?? "").split(",").filter((p) => p !== "").map((predecessorCommitId) => ({
      commitId,
      predecessorCommitId,
      operationId: operationId === "" ? null : operationId!
    }))
  })
}
