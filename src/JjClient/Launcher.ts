import * as NodeStream from "@effect/platform-node/NodeStream"
import { Data, Deferred, Effect, Either, Exit, Schema } from "effect"
import type { Stream } from "effect"
import type { Scope } from "effect"
import { spawn } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import fs from "node:fs"
import net from "node:net"
import path from "node:path"
import readline from "node:readline"

/**
 * Starts jj processes from a small helper process instead of from this one.
 *
 * Node forks the whole process to spawn a child (libuv uses fork on Linux), and a fork costs time in proportion to
 * the parent's memory, blocking the event loop meanwhile for a sizeable part of what the jj call itself takes. The
 * helper is a bare Node process that spawns each jj with its stdout connected to a Unix socket this process listens
 * on (one for all: each connection first names the request it carries), so jj's output comes here directly; only the
 * request, the exit code and the tail of stderr go through the helper. A helper that dies is started again at the
 * next call.
 */

// The helper's whole program: one JSON request per line on stdin ({id, socket, bin, args, env, cwd} or {kill}), one JSON
// message per line on stdout ({id, exit, stderr} or {id, error}). Plain JavaScript, run with `node -e`. A kill that
// arrives before the child exists (its socket still connecting) stops it from being started at all.
const helperSource = `
const { spawn } = require("node:child_process")
const net = require("node:net")
const children = new Map()
const killed = new Set()
const send = (message) => process.stdout.write(JSON.stringify(message) + "\\n")
require("node:readline").createInterface({ input: process.stdin }).on("line", (line) => {
  const request = JSON.parse(line)
  if (request.kill !== undefined) {
    const child = children.get(request.kill)
    if (child === undefined) killed.add(request.kill)
    else child.kill("SIGKILL")
    return
  }
  const socket = net.connect(request.socket)
  socket.on("error", (error) => send({ id: request.id, error: error.message }))
  // The connection says whose output it carries, then is jj's stdout (started once that header is written).
  socket.on("connect", () => socket.write(request.id + "\\n", () => start(request, socket)))
})
const start = (request, socket) => {
  if (killed.delete(request.id)) {
    socket.destroy()
    send({ id: request.id, exit: -1, stderr: "" })
    return
  }
  const child = spawn(request.bin, request.args, {
    env: { ...process.env, ...request.env },
    cwd: request.cwd,
    stdio: ["ignore", socket, "pipe"]
  })
  children.set(request.id, child)
  let stderr = ""
  child.stderr.on("data", (data) => { stderr = (stderr + data).slice(-16384) })
  child.on("error", (error) => {
    children.delete(request.id)
    socket.destroy()
    send({ id: request.id, error: error.message })
  })
  child.on("close", (code) => {
    children.delete(request.id)
    socket.destroy()
    send({ id: request.id, exit: code ?? -1, stderr })
  })
}
process.stdin.on("end", () => {
  for (const child of children.values()) child.kill("SIGKILL")
  process.exit(0)
})
`

/** A process could not be started, or its output could not be read. */
export class LaunchFailed extends Data.TaggedError("LaunchFailed")<{ readonly reason: string }> {}

/** How a launched process ended: its exit code (-1 when killed) and the tail of its stderr. */
export interface Ended {
  readonly exitCode: number
  readonly stderr: string
}

/** The beginning of a process's output (`Launched.head`). */
export interface Head {
  readonly bytes: Uint8Array
  /** The output ended within the limit: `bytes` is all of it. Else the rest follows on `stdout`. */
  readonly whole: boolean
}

export interface Launched {
  /** The output, or what follows `head` once it was read. */
  readonly stdout: Stream.Stream<Uint8Array, LaunchFailed>
  /**
   * Reads the output until it ends or `limit` bytes have come, without a stream: most outputs are small, and a stream's
   * machinery costs more than reading them.
   */
  readonly head: (limit: number) => Effect.Effect<Head, LaunchFailed>
  /** Waits for the process to end; fails when it could not be started. */
  readonly ended: Effect.Effect<Ended, LaunchFailed>
  /** Kills the process now; `ended` then reports it (exit code -1). */
  readonly kill: () => void
  /** Whether it was killed for stalling (`stallAfterMs`). */
  readonly stalled: () => boolean
}

export interface LaunchOptions {
  /**
   * Kills the process when, for this long, its output has had nothing arriving and nothing left unread, or it has not
   * exited once its output ended. A reader that is slow (unread output) or a process that keeps writing is never cut
   * off.
   */
  readonly stallAfterMs?: number
}

export interface Launcher {
  /**
   * Starts `bin args` with `env` added to this process's environment, in `cwd` (this process's own when undefined);
   * killed when the scope closes first.
   */
  readonly start: (
    bin: string,
    args: ReadonlyArray<string>,
    env: Record<string, string>,
    cwd?: string,
    options?: LaunchOptions
  ) => Effect.Effect<Launched, LaunchFailed, Scope.Scope>
}

interface Helper {
  readonly process: ChildProcess
  /** Launches not yet reported, by request id: each is told how its process ended. */
  readonly pending: Map<number, (exit: Exit.Exit<Ended, LaunchFailed>) => void>
}

const HelperMessage = Schema.parseJson(Schema.Union(
  Schema.Struct({ id: Schema.Number, exit: Schema.Number, stderr: Schema.String }),
  Schema.Struct({ id: Schema.Number, error: Schema.String })
))
const decodeHelperMessage = Schema.decodeUnknownEither(HelperMessage)

/** The longest header (a request id, in digits) a connection may send before it is dropped. */
const headerLimit = 24

/** A launcher whose helper and socket live in `directory`, stopped when the scope closes. */
export const makeLauncher = (directory: string): Effect.Effect<Launcher, LaunchFailed, Scope.Scope> =>
  Effect.gen(function*() {
    let helper: Helper | undefined
    let nextId = 0
    const socketPath = path.join(directory, "launcher.sock")
    // Launches whose output has not connected yet.
    const awaitingOutput = new Map<number, (socket: net.Socket) => void>()

    // Each connection names its request, then carries that process's stdout: handed over once named, unread.
    const server = net.createServer((socket) => {
      socket.on("error", () => socket.destroy())
      let header = ""
      const onReadable = () => {
        let chunk: Buffer | null
        while ((chunk = socket.read() as Buffer | null) !== null) {
          const newline = chunk.indexOf(10)
          header += chunk.subarray(0, newline === -1 ? chunk.length : newline).toString("latin1")
          if (newline === -1) {
            if (header.length > headerLimit) socket.destroy()
            continue
          }
          socket.off("readable", onReadable)
          if (newline + 1 < chunk.length) socket.unshift(chunk.subarray(newline + 1))
          const id = Number(header)
          const handOver = awaitingOutput.get(id)
          awaitingOutput.delete(id)
          if (handOver === undefined) socket.destroy()
          else handOver(socket)
          return
        }
      }
      socket.on("readable", onReadable)
    })
    yield* Effect.async<void, LaunchFailed>((resume) => {
      let listening = false
      // Kept for the server's life: an error after it listens (none expected) must not crash the process.
      server.on("error", (error) => {
        if (!listening) {
          resume(Effect.fail(new LaunchFailed({ reason: `cannot listen on ${socketPath}: ${error.message}` })))
        }
      })
      server.listen(socketPath, () => {
        listening = true
        resume(Effect.void)
      })
    })

    const startHelper = (): Helper => {
      const child = spawn(process.execPath, ["-e", helperSource], { stdio: ["pipe", "pipe", "inherit"] })
      const started: Helper = { process: child, pending: new Map() }
      const failAll = (reason: string) => {
        if (helper === started) helper = undefined
        for (const report of started.pending.values()) report(Exit.fail(new LaunchFailed({ reason })))
        started.pending.clear()
      }
      readline.createInterface({ input: child.stdout! }).on("line", (line) => {
        const decoded = decodeHelperMessage(line)
        if (Either.isLeft(decoded)) {
          failAll(`the jj launcher wrote ${JSON.stringify(line.slice(0, 200))}`)
          return
        }
        const message = decoded.right
        const report = started.pending.get(message.id)
        if (report === undefined) {
          return
        }
        started.pending.delete(message.id)
        report(
          "error" in message
            ? Exit.fail(new LaunchFailed({ reason: message.error }))
            : Exit.succeed({ exitCode: message.exit, stderr: message.stderr })
        )
      })
      child.on("error", (error) => failAll(`the jj launcher failed: ${error.message}`))
      child.on("exit", (code) => failAll(`the jj launcher exited (${code})`))
      // A helper left alone (this process crashed) ends with its stdin.
      child.stdin!.on("error", () => failAll("the jj launcher stopped reading"))
      return started
    }

    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        helper?.process.stdin?.end()
        helper = undefined
        server.close()
        fs.rm(socketPath, { force: true }, () => {})
      })
    )

    const start = (
      bin: string,
      args: ReadonlyArray<string>,
      env: Record<string, string>,
      cwd?: string,
      options?: LaunchOptions
    ) =>
      Effect.gen(function*() {
        const id = ++nextId
        const ended = yield* Deferred.make<Ended, LaunchFailed>()
        // jj's stdout, or why it cannot come: completed by plain callbacks, so a launch forks no fiber.
        const connected = yield* Deferred.make<net.Socket, LaunchFailed>()
        let accepted: net.Socket | undefined
        let lateOutput: ReturnType<typeof setTimeout> | undefined
        awaitingOutput.set(id, (socket) => {
          accepted = socket
          clearTimeout(lateOutput)
          Deferred.unsafeDone(connected, Exit.succeed(socket))
        })
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            awaitingOutput.delete(id)
            clearTimeout(lateOutput)
            accepted?.destroy()
          })
        )
        const current = helper ??= startHelper()
        current.pending.set(id, (exit) => {
          Deferred.unsafeDone(ended, exit)
          if (accepted !== undefined) return
          if (Exit.isFailure(exit)) Deferred.unsafeDone(connected, Exit.failCause(exit.cause))
          else {
            // The helper connects before it starts jj, so a jj that ended has connected; its connection may still be
            // on its way (the helper's report can arrive first).
            lateOutput = setTimeout(() => {
              Deferred.unsafeDone(
                connected,
                Exit.fail(new LaunchFailed({ reason: "the process ended before its output connected" }))
              )
            }, 5_000)
          }
        })
        // Killed when the scope closes before it ended (interruption, timeout, a sibling reader's failure).
        yield* Effect.addFinalizer(() =>
          Deferred.isDone(ended).pipe(
            Effect.flatMap((done) =>
              done ? Effect.void : Effect.sync(() => {
                current.pending.delete(id)
                if (current.process.stdin?.writable === true) {
                  current.process.stdin.write(JSON.stringify({ kill: id }) + "\n")
                }
              })
            )
          )
        )
        current.process.stdin!.write(JSON.stringify({ id, socket: socketPath, bin, args, env, cwd }) + "\n")
        const socket = yield* Deferred.await(connected)
        const kill = () => {
          if (current.process.stdin?.writable === true) {
            current.process.stdin.write(JSON.stringify({ kill: id }) + "\n")
          }
        }
        let stalled = false
        const stallAfterMs = options?.stallAfterMs
        if (stallAfterMs !== undefined) {
          // Sampled on a timer rather than around each read: Node reads the socket ahead while output is waited for,
          // so bytes that stopped arriving with none left unread mean the process wrote nothing meanwhile. The helper
          // holds its end of the socket until the process ended, so a process that closed its output but does not exit
          // is caught the same way.
          let bytesSeen = -1
          let activeAt = Date.now()
          const watch = setInterval(() => {
            if (socket.bytesRead !== bytesSeen || socket.readableLength > 0) {
              bytesSeen = socket.bytesRead
              activeAt = Date.now()
            } else if (Date.now() - activeAt >= stallAfterMs) {
              stalled = true
              clearInterval(watch)
              kill()
            }
          }, Math.max(10, Math.min(1_000, stallAfterMs / 4)))
          socket.once("close", () => clearInterval(watch))
          yield* Effect.addFinalizer(() => Effect.sync(() => clearInterval(watch)))
        }
        const readFailed = (error: unknown) =>
          new LaunchFailed({ reason: `reading the output failed: ${String(error)}` })
        const head = (limit: number) =>
          Effect.async<Head, LaunchFailed>((resume) => {
            const chunks: Array<Buffer> = []
            let size = 0
            const stop = () => {
              socket.off("readable", onReadable)
              socket.off("end", onEnd)
              socket.off("error", onError)
            }
            const onReadable = () => {
              let chunk: Buffer | null
              while (size < limit && (chunk = socket.read() as Buffer | null) !== null) {
                chunks.push(chunk)
                size += chunk.length
              }
              if (size >= limit) {
                stop()
                resume(Effect.succeed({ bytes: Buffer.concat(chunks), whole: false }))
              }
            }
            // Emitted once everything before the end was read.
            const onEnd = () => {
              stop()
              resume(Effect.succeed({ bytes: Buffer.concat(chunks), whole: true }))
            }
            const onError = (error: Error) => {
              stop()
              resume(Effect.fail(readFailed(error)))
            }
            socket.on("readable", onReadable)
            socket.on("end", onEnd)
            socket.on("error", onError)
            onReadable()
            return Effect.sync(stop)
          })
        return {
          stdout: NodeStream.fromReadable<LaunchFailed, Uint8Array>(() => socket, readFailed),
          head,
          ended: Deferred.await(ended),
          kill,
          stalled: () => stalled
        } satisfies Launched
      })

    return { start } satisfies Launcher
  })
