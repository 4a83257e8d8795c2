import { execFileSync, spawn } from "node:child_process"
import fs from "node:fs"
import os from "node:os"
import path from "node:path"
import { jjSync } from "./support.js"

/**
 * Large jj repositories for the sync benchmark, made fast: `git fast-import` writes the history (mostly linear, a
 * merged side branch every 50 commits, a few unmerged feature branches, tags), then `jj git init --git-repo .` makes
 * it a colocated jj repository (jj 0.45's default layout), importing every commit reachable from a ref. Repositories
 * are cached by size and generator version, so only the first run pays for them; runs work on copies.
 */

/** Bump when the generated history changes, so cached repositories are made again. */
export const generatorVersion = 1

const cacheRoot = path.join(
  process.env["JJ_CACHE_DIR"] ??
    path.join(process.env["XDG_CACHE_HOME"] ?? path.join(os.homedir(), ".cache"), "jj-watcher"),
  "bench-repos"
)

export interface GeneratedRepo {
  /** The cached repository (a jj workspace with its git repository colocated); never operate on it, copy it. */
  readonly path: string
  /** Commits in the git history (jj shows these plus its working-copy commit). */
  readonly commits: number
  readonly fastImportMs: number
  readonly jjImportMs: number
  /** False when it came from the cache (the timings are then those of the run that made it). */
  readonly generated: boolean
}

interface Meta {
  readonly commits: number
  readonly fastImportMs: number
  readonly jjImportMs: number
}

const authors = [
  "Ada Lovelace",
  "Alan Turing",
  "Grace Hopper",
  "Edsger Dijkstra",
  "Barbara Liskov",
  "Donald Knuth",
  "Frances Allen",
  "Ken Thompson",
  "Radia Perlman",
  "John McCarthy",
  "Margaret Hamilton",
  "Niklaus Wirth",
  "Leslie Lamport",
  "Tony Hoare",
  "Adele Goldberg",
  "Dennis Ritchie",
  "Shafi Goldwasser",
  "Robin Milner",
  "Jean Sammet",
  "Butler Lampson",
  "Sophie Wilson",
  "Guido van Rossum",
  "Hedy Lamarr"
]
const verbs = ["Fix", "Add", "Refactor", "Document", "Speed up", "Simplify", "Test", "Rename", "Remove", "Handle"]
const areas = [
  "parser",
  "index",
  "store",
  "cli",
  "revsets",
  "templates",
  "merge",
  "diff",
  "config",
  "log",
  "op log",
  "git"
]
const zones = ["+0000", "+0100", "-0700", "+0530", "-0300", "+0900"]
const files = 64

/** One commit of the history; its fast-import mark is its 1-based index. */
interface Plan {
  readonly ref: string
  readonly from: number | undefined
  readonly merge: number | undefined
}

/**
 * Exactly `total` commits: main, where every 50th main commit merges a 2-commit side branch forked from the main
 * commit before it, and four feature branches of 8 commits forked from main at 20%, 45%, 70% and 90%. Returns the
 * commits and the marks of main's first-parent line, in order.
 */
const plan = (total: number) => {
  const commits: Array<Plan> = []
  const mainLine: Array<number> = []
  const forks = [0.2, 0.45, 0.7, 0.9].map((at) => Math.floor(at * total))
  const add = (entry: Plan) => {
    commits.push(entry)
    return commits.length
  }
  const addMain = (merge: number | undefined) => {
    mainLine.push(add({ ref: "refs/heads/main", from: mainLine.at(-1), merge }))
  }
  while (commits.length < total) {
    const left = total - commits.length
    const fork = forks.findIndex((at) => at >= 0 && commits.length >= at)
    if (fork >= 0 && mainLine.length > 0 && left > 8) {
      forks[fork] = -1
      let tip = mainLine.at(-1)!
      for (let i = 0; i < 8; i++) tip = add({ ref: `refs/heads/feature-${fork + 1}`, from: tip, merge: undefined })
    } else if (mainLine.length > 0 && mainLine.length % 50 === 49 && left >= 3) {
      // The side branch's commits move refs/heads/main on the way; the merge puts it back on the main line.
      const side1 = add({ ref: "refs/heads/main", from: mainLine.at(-1), merge: undefined })
      const side2 = add({ ref: "refs/heads/main", from: side1, merge: undefined })
      addMain(side2)
    } else {
      addMain(undefined)
    }
  }
  return { commits, mainLine }
}

/** The fast-import stream for `total` commits, in chunks of about 1 MB. */
function* fastImportStream(total: number): Generator<string> {
  const { commits, mainLine } = plan(total)
  const base = 1_600_000_000
  let chunk = ""
  for (const [index, entry] of commits.entries()) {
    const author = authors[(index * 7) % authors.length]!
    const email = `${author.toLowerCase().replace(/[^a-z]+/g, ".")}@example.com`
    const time = base + index * 97 + (index % 13) * 11
    const zone = zones[index % zones.length]!
    const committer = index % 9 === 0 ? "Release Bot <bot@example.com>" : `${author} <${email}>`
    let message = `${verbs[index % verbs.length]} ${areas[(index * 5) % areas.length]}: step ${index + 1}\n`
    if (index % 5 === 0) {
      message += `\nLonger explanation for commit ${index + 1}: touches module ${index % files} only.\n`
    }
    if (entry.merge !== undefined) message = `Merge side branch into main (commit ${index + 1})\n`
    const content = `module ${index % files}\nlast changed by commit ${index + 1} of ${total}\n`
    chunk += `commit ${entry.ref}\nmark :${index + 1}\n` +
      `author ${author} <${email}> ${time} ${zone}\ncommitter ${committer} ${time + 30} ${zone}\n` +
      `data ${Buffer.byteLength(message)}\n${message}` +
      (entry.from === undefined ? "" : `from :${entry.from}\n`) +
      (entry.merge === undefined ? "" : `merge :${entry.merge}\n`) +
      `M 100644 inline src/module${String(index % files).padStart(2, "0")}.txt\n` +
      `data ${Buffer.byteLength(content)}\n${content}\n`
    if (chunk.length > 1 << 20) {
      yield chunk
      chunk = ""
    }
  }
  chunk += `reset refs/heads/main\nfrom :${mainLine.at(-1)!}\n\n`
  for (let tag = 1; tag <= 5; tag++) {
    chunk += `reset refs/tags/v0.${tag}.0\nfrom :${mainLine[Math.floor((tag / 6) * (mainLine.length - 1))]!}\n\n`
  }
  yield chunk
}

const fastImport = async (dir: string, total: number) => {
  execFileSync("git", ["init", "--quiet", "--initial-branch", "main", dir])
  const child = spawn("git", ["fast-import", "--quiet"], { cwd: dir, stdio: ["pipe", "inherit", "inherit"] })
  const exited = new Promise<void>((resolve, reject) =>
    child.on("exit", (code) => code === 0 ? resolve() : reject(new Error(`git fast-import exited ${code}`)))
  )
  // When fast-import dies early, writing fails with EPIPE; its exit code is the error worth reporting.
  child.stdin.on("error", () => {})
  for (const chunk of fastImportStream(total)) {
    if (!child.stdin.write(chunk)) await new Promise((resolve) => child.stdin.once("drain", resolve))
  }
  child.stdin.end()
  await exited
  // A populated work tree, so the colocated workspace's files match its working-copy commit.
  execFileSync("git", ["reset", "--hard", "--quiet"], { cwd: dir })
}

const readMeta = (dir: string): Meta | undefined => {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, "meta.json"), "utf8")) as Meta
  } catch {
    return undefined
  }
}

/** The cached repository of `total` commits, generated first when missing. */
export const generatedRepo = async (total: number): Promise<GeneratedRepo> => {
  const dir = path.join(cacheRoot, `${total}-v${generatorVersion}`)
  const cached = readMeta(dir)
  if (cached !== undefined) return { path: path.join(dir, "repo"), ...cached, generated: false }

  fs.mkdirSync(cacheRoot, { recursive: true })
  console.error(
    `generating a ${total.toLocaleString("en-US")}-commit repository into ${dir} (once; later runs copy it)`
  )
  // Made in a temporary directory and renamed into place, so an interrupted run never leaves half a repository.
  const tmp = fs.mkdtempSync(path.join(cacheRoot, `.${total}-v${generatorVersion}.`))
  try {
    const repo = path.join(tmp, "repo")
    let started = performance.now()
    await fastImport(repo, total)
    const fastImportMs = performance.now() - started
    started = performance.now()
    jjSync(repo, "git", "init", "--git-repo", ".")
    const jjImportMs = performance.now() - started
    const meta: Meta = { commits: total, fastImportMs, jjImportMs }
    fs.writeFileSync(path.join(tmp, "meta.json"), JSON.stringify(meta))
    fs.rmSync(dir, { recursive: true, force: true })
    fs.renameSync(tmp, dir)
    return { path: path.join(dir, "repo"), ...meta, generated: true }
  } catch (error) {
    fs.rmSync(tmp, { recursive: true, force: true })
    throw error
  }
}
