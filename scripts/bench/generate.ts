import { execFileSync, spawn } from "node:child_process"
import fs from "node:fs"
import path from "node:path"
import { benchCache, jjBin, jjConfigDir, jjSync } from "./support.js"

/**
 * Large jj repositories for the sync benchmark, made fast: `git fast-import` writes the history (mostly linear, a
 * merged side branch every 50 commits, a few unmerged feature branches, tags), then `jj git init --git-repo .` makes
 * it a colocated jj repository (jj 0.45's default layout), importing every commit reachable from a ref. Repositories
 * are cached by size and generator version, so only the first run pays for them; runs work on copies.
 */

/** Bump when the generated history changes, so cached repositories are made again. */
export const generatorVersion = 1

const cacheRoot = benchCache("bench-repos")

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

/**
 * The fast-import stream for `total` commits, in chunks of about 1 MB; with `bookmarks`, that many more branches
 * (`pr-N`, jj bookmarks once imported) at commits of main spread over the history, as a forge's pull requests.
 */
function* fastImportStream(total: number, bookmarks = 0): Generator<string> {
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
  for (let n = 1; n <= bookmarks; n++) {
    chunk += `reset refs/heads/pr-${n}\nfrom :${mainLine[(n * 7_919) % mainLine.length]!}\n\n`
  }
  yield chunk
}

/**
 * A merge-heavy history of about `total` commits over 3,200 files in nested directories (`src/dNN/sN/fNN.txt`):
 * main moves one commit at a time, and after each main commit a three-commit topic branch, forked from a main commit
 * up to 800 back, is merged into it; a fifth of the commits are merges, each carrying its topic's changes (a clean
 * merge, empty for jj, unless main changed the same file since the fork).
 */
function* mergeHeavyStream(total: number): Generator<string> {
  const files: Array<string> = []
  for (let a = 0; a < 16; a++) {
    for (let b = 0; b < 10; b++) {
      for (let c = 0; c < 20; c++) {
        files.push(`src/d${String(a).padStart(2, "0")}/s${b}/f${String(c).padStart(2, "0")}.txt`)
      }
    }
  }
  let seed = 7
  const random = (n: number) => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
    return seed % n
  }
  let mark = 0
  let chunk = ""
  const commit = (
    ref: string,
    from: number | undefined,
    merge: number | undefined,
    changes: ReadonlyArray<readonly [string, string]>,
    message: string,
    time: number
  ) => {
    mark++
    chunk += `commit ${ref}\nmark :${mark}\nauthor Ada Lovelace <ada@example.com> ${time} +0000\n` +
      `committer Ada Lovelace <ada@example.com> ${time} +0000\ndata ${Buffer.byteLength(message)}\n${message}\n` +
      (from === undefined ? "" : `from :${from}\n`) + (merge === undefined ? "" : `merge :${merge}\n`) +
      changes.map(([file, content]) => `M 100644 inline ${file}\ndata ${Buffer.byteLength(content)}\n${content}\n`)
        .join(
          ""
        ) +
      "\n"
    return mark
  }
  let time = 1_600_000_000
  let main = commit("refs/heads/main", undefined, undefined, files.map((file) => [file, `${file}\n`]), "init", time)
  const mainLine = [main]
  while (mark < total - 5) {
    time += 60
    main = commit(
      "refs/heads/main",
      main,
      undefined,
      [[files[random(files.length)]!, `main ${mark}\n`]],
      `main ${mark}`,
      time
    )
    mainLine.push(main)
    let tip = mainLine[Math.max(0, mainLine.length - 1 - random(800))]!
    const changed = new Map<string, string>()
    for (let i = 0; i < 3; i++) {
      const file = files[random(files.length)]!
      changed.set(file, `topic ${mark} ${i}\n`)
      tip = commit("refs/heads/topic", tip, undefined, [[file, changed.get(file)!]], `topic ${mark} ${i}`, time + i)
    }
    main = commit("refs/heads/main", main, tip, [...changed], `Merge topic ${mark}`, time + 5)
    mainLine.push(main)
    if (chunk.length > 1 << 20) {
      yield chunk
      chunk = ""
    }
  }
  yield chunk + `reset refs/heads/main\nfrom :${main}\n\n`
}

/** The shapes of generated history. */
export type Shape = "linear" | "merge-heavy" | "bookmark-heavy"

/** Bookmarks of the bookmark-heavy shape: half as many as commits. */
export const bookmarksPerCommit = 0.5

const streams: Record<Shape, (total: number) => Generator<string>> = {
  linear: (total) => fastImportStream(total),
  "merge-heavy": mergeHeavyStream,
  "bookmark-heavy": (total) => fastImportStream(total, Math.floor(total * bookmarksPerCommit))
}

const fastImport = async (dir: string, total: number, shape: Shape) => {
  execFileSync("git", ["init", "--quiet", "--initial-branch", "main", dir])
  const child = spawn("git", ["fast-import", "--quiet"], { cwd: dir, stdio: ["pipe", "inherit", "inherit"] })
  const exited = new Promise<void>((resolve, reject) =>
    child.on("exit", (code) => code === 0 ? resolve() : reject(new Error(`git fast-import exited ${code}`)))
  )
  // When fast-import dies early, writing fails with EPIPE; its exit code is the error worth reporting.
  child.stdin.on("error", () => {})
  for (const chunk of streams[shape](total)) {
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

/**
 * The cached repository under `key`, made first by `make` when missing: in a temporary directory (`make` fills
 * `<tmp>/repo` and returns its meta) renamed into place, so an interrupted run never leaves half a repository.
 */
const cachedRepo = async (
  key: string,
  description: string,
  make: (repo: string) => Promise<Meta>
): Promise<GeneratedRepo> => {
  const dir = path.join(cacheRoot, key)
  const cached = readMeta(dir)
  if (cached !== undefined) return { path: path.join(dir, "repo"), ...cached, generated: false }
  fs.mkdirSync(cacheRoot, { recursive: true })
  console.error(`generating ${description} into ${dir} (once; later runs copy it)`)
  const tmp = fs.mkdtempSync(path.join(cacheRoot, `.${key}.`))
  try {
    const meta = await make(path.join(tmp, "repo"))
    fs.writeFileSync(path.join(tmp, "meta.json"), JSON.stringify(meta))
    fs.rmSync(dir, { recursive: true, force: true })
    fs.renameSync(tmp, dir)
    return { path: path.join(dir, "repo"), ...meta, generated: true }
  } catch (error) {
    fs.rmSync(tmp, { recursive: true, force: true })
    throw error
  }
}

/** The cached repository of `total` commits of the shape, generated first when missing. */
export const generatedRepo = (total: number, shape: Shape = "linear"): Promise<GeneratedRepo> =>
  cachedRepo(
    `${shape === "linear" ? "" : `${shape}-`}${total}-v${generatorVersion}`,
    `a ${total.toLocaleString("en-US")}-commit ${shape} repository`,
    async (repo) => {
      let started = performance.now()
      await fastImport(repo, total, shape)
      const fastImportMs = performance.now() - started
      started = performance.now()
      jjSync(repo, "git", "init", "--git-repo", ".")
      return { commits: total, fastImportMs, jjImportMs: performance.now() - started }
    }
  )

/** How the operation-log shape's jj commands cycle: mostly plain operations, an undo every tenth. */
const opLogCycle = [
  ["describe", "-m", "op"],
  ["new"],
  ["describe", "-m", "op"],
  ["bookmark", "set", "--allow-backwards", "-r", "@-"],
  ["describe", "-m", "op"],
  ["new"],
  ["abandon", "@-"],
  ["describe", "-m", "op"],
  ["new"],
  ["undo"]
] as const

/**
 * A 1,000-commit linear history with at least `operations` jj operations on top (shape c): two workers run jj
 * commands at once against the same repository, so concurrent operations occur and jj merges them, and every tenth
 * command is an undo. Cached like the other shapes.
 */
export const generatedOpLog = async (operations: number): Promise<GeneratedRepo> => {
  const base = await generatedRepo(1_000)
  return cachedRepo(
    `op-log-${operations}-v${generatorVersion}`,
    `a ${operations.toLocaleString("en-US")}-operation repository`,
    async (repo) => {
      fs.cpSync(base.path, repo, { recursive: true })
      const started = performance.now()
      const workers = 2
      const perWorker = Math.ceil(operations / workers)
      await Promise.all(Array.from({ length: workers }, (_, worker) =>
        new Promise<void>((resolve, reject) => {
          // One shell loop per worker: a jj process per operation, with no Node in between.
          const commands = Array.from({ length: perWorker }, (_, i) => {
            const command = opLogCycle[i % opLogCycle.length]!
            const args = command[0] === "bookmark" ? [...command, `worker-${worker}`] : command
            return `"$JJ" --ignore-working-copy ${args.map((arg) => `'${arg}'`).join(" ")} >/dev/null 2>&1 || true`
          })
          const child = spawn("bash", ["-s"], {
            cwd: repo,
            stdio: ["pipe", "inherit", "inherit"],
            env: { ...process.env, JJ: jjBin, JJ_CONFIG: jjConfigDir }
          })
          child.on("exit", (code) => code === 0 ? resolve() : reject(new Error(`op-log worker exited ${code}`)))
          child.stdin.end(commands.join("\n") + "\n")
        })))
      // The workers never touched the files: bring the working copy up to date, so that plain `jj` commands work.
      jjSync(repo, "workspace", "update-stale")
      return { commits: base.commits, fastImportMs: base.fastImportMs, jjImportMs: performance.now() - started }
    }
  )
}
