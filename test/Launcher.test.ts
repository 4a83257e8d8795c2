import { expect, it } from "@effect/vitest"
import { Effect, Either, Exit, Schedule, Scope, Stream } from "effect"
import fs from "node:fs"
import os from "node:os"
import path from "node:path"
import { makeLauncher } from "../src/JjClient/Launcher.js"

/** The helper process that starts jj: output, exit, failures, and killing what the caller abandons. */

const directory = () => fs.mkdtempSync(path.join(os.tmpdir(), "jj-watcher-launcher-"))
const text = <E>(stream: Stream.Stream<Uint8Array, E>) => stream.pipe(Stream.decodeText(), Stream.mkString)

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

it.scoped("streams stdout and reports the exit code, the tail of stderr and the added environment", () =>
  Effect.gen(function*() {
    const launcher = yield* makeLauncher(directory())
    const launched = yield* launcher.start("/bin/sh", [
      "-c",
      `printf 'one\\ntwo %s\\n' "$EXTRA"; echo oops >&2; exit 3`
    ], {
      EXTRA: "added"
    })
    expect(yield* text(launched.stdout)).toBe("one\ntwo added\n")
    expect(yield* launched.ended).toEqual({ exitCode: 3, stderr: "oops\n" })
  }))

it.scoped("carries large outputs whole", () =>
  Effect.gen(function*() {
    const launcher = yield* makeLauncher(directory())
    const launched = yield* launcher.start("/bin/sh", ["-c", "head -c 5000000 /dev/zero"], {})
    const size = yield* launched.stdout.pipe(Stream.runFold(0, (total, chunk) => total + chunk.length))
    expect(size).toBe(5_000_000)
    expect((yield* launched.ended).exitCode).toBe(0)
  }))

it.scoped("head: an output within the limit whole, a longer one cut at the limit with the rest on stdout", () =>
  Effect.gen(function*() {
    const launcher = yield* makeLauncher(directory())
    const small = yield* launcher.start("/bin/sh", ["-c", "printf 'one\\ntwo\\n'"], {})
    const whole = yield* small.head(1_000)
    expect(whole.whole).toBe(true)
    expect(new TextDecoder().decode(whole.bytes)).toBe("one\ntwo\n")
    // 3,000 two-byte characters: the limit falls inside one, and the stream carries the rest from its second byte.
    const large = yield* launcher.start("/bin/sh", [
      "-c",
      "i=0; while [ $i -lt 3000 ]; do printf 'é'; i=$((i+1)); done"
    ], {})
    const head = yield* large.head(1_001)
    expect(head.whole).toBe(false)
    expect(head.bytes.length).toBeGreaterThanOrEqual(1_001)
    const rest = yield* large.stdout.pipe(Stream.runCollect)
    const all = new TextDecoder().decode(Buffer.concat([head.bytes, ...rest]))
    expect(all).toBe("é".repeat(3_000))
    expect((yield* large.ended).exitCode).toBe(0)
  }))

it.scoped("a missing program fails with the reason", () =>
  Effect.gen(function*() {
    const launcher = yield* makeLauncher(directory())
    const result = yield* Effect.either(
      Effect.flatMap(launcher.start("/no/such/jj", [], {}), (launched) => launched.ended)
    )
    expect(Either.isLeft(result) && result.left.reason).toMatch(/ENOENT/)
  }))

it.scopedLive("a process whose scope closes first is killed", () =>
  Effect.gen(function*() {
    const launcher = yield* makeLauncher(directory())
    const scope = yield* Scope.make()
    const launched = yield* Scope.extend(launcher.start("/bin/sh", ["-c", "echo $$; exec sleep 60"], {}), scope)
    const firstLine = yield* launched.stdout.pipe(Stream.decodeText(), Stream.splitLines, Stream.runHead)
    const pid = Number(firstLine._tag === "Some" ? firstLine.value : Number.NaN)
    expect(alive(pid)).toBe(true)
    yield* Scope.close(scope, Exit.void)
    // Poll until the process is gone, with a deadline.
    yield* Effect.sync(() => alive(pid)).pipe(
      Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (running) => !running }),
      Effect.timeout("5 seconds")
    )
    expect(alive(pid)).toBe(false)
  }))

it.scoped("many calls at once each get their own output", () =>
  Effect.gen(function*() {
    const launcher = yield* makeLauncher(directory())
    const outputs = yield* Effect.forEach(
      Array.from({ length: 20 }, (_, i) => i),
      (i) =>
        Effect.scoped(
          Effect.flatMap(launcher.start("/bin/sh", ["-c", `echo ${i}`], {}), (launched) => text(launched.stdout))
        ),
      { concurrency: "unbounded" }
    )
    expect(outputs).toEqual(Array.from({ length: 20 }, (_, i) => `${i}\n`))
  }))

it.scoped("kill stops the process, and its end is reported", () =>
  Effect.gen(function*() {
    const launcher = yield* makeLauncher(directory())
    const launched = yield* launcher.start("/bin/sh", ["-c", "echo started; exec sleep 60"], {})
    const firstLine = yield* launched.stdout.pipe(Stream.decodeText(), Stream.splitLines, Stream.runHead)
    expect(firstLine._tag === "Some" && firstLine.value).toBe("started")
    launched.kill()
    const ended = yield* launched.ended.pipe(Effect.timeout("5 seconds"))
    expect(ended.exitCode).toBe(-1)
  }))

it.scoped("output that looks like a connection's header is carried whole", () =>
  Effect.gen(function*() {
    const launcher = yield* makeLauncher(directory())
    const outputs = yield* Effect.forEach(
      ["1\n2\n", "\n", "12345678901234567890123456789\nrest"],
      (printed) =>
        Effect.scoped(
          Effect.flatMap(launcher.start("/bin/printf", ["%s", printed], {}), (launched) => text(launched.stdout))
        ),
      { concurrency: "unbounded" }
    )
    expect(outputs).toEqual(["1\n2\n", "\n", "12345678901234567890123456789\nrest"])
  }))

it.scopedLive("with stallAfterMs, a process that writes nothing while its output is waited for is killed as stalled", () =>
  Effect.gen(function*() {
    const launcher = yield* makeLauncher(directory())
    const launched = yield* launcher.start("/bin/sh", ["-c", "echo started; exec sleep 60"], {}, undefined, {
      stallAfterMs: 200
    })
    // The output ends when the stalled process is killed.
    expect(yield* text(launched.stdout).pipe(Effect.timeout("10 seconds"))).toBe("started\n")
    expect(launched.stalled()).toBe(true)
    expect((yield* launched.ended).exitCode).toBe(-1)
  }))

it.scopedLive("with stallAfterMs, output left unread by a slow reader is not a stall", () =>
  Effect.gen(function*() {
    const launcher = yield* makeLauncher(directory())
    const launched = yield* launcher.start("/bin/sh", ["-c", "head -c 5000000 /dev/zero"], {}, undefined, {
      stallAfterMs: 100
    })
    // The reader is what is slow here: the process is blocked on its full output for several times the limit.
    yield* Effect.sleep("600 millis")
    const size = yield* launched.stdout.pipe(Stream.runFold(0, (total, chunk) => total + chunk.length))
    expect(size).toBe(5_000_000)
    expect(launched.stalled()).toBe(false)
    expect((yield* launched.ended).exitCode).toBe(0)
  }))

it.scopedLive("with stallAfterMs, a process that closed its output but does not exit is killed as stalled", () =>
  Effect.gen(function*() {
    const launcher = yield* makeLauncher(directory())
    const launched = yield* launcher.start("/bin/sh", ["-c", "echo started; exec >&-; exec sleep 60"], {}, undefined, {
      stallAfterMs: 200
    })
    expect(yield* text(launched.stdout).pipe(Effect.timeout("10 seconds"))).toBe("started\n")
    const ended = yield* launched.ended.pipe(Effect.timeout("10 seconds"))
    expect(launched.stalled()).toBe(true)
    expect(ended.exitCode).toBe(-1)
  }))
