import { Cause, Console, Effect, Option } from "effect"

interface Described {
  readonly _tag?: unknown
  readonly message?: unknown
  readonly cause?: unknown
  readonly code?: unknown
  readonly address?: unknown
  readonly port?: unknown
}

/** What failed and, where it helps, what to do; an error with no message of its own says its cause's. */
const describe = (error: unknown): string => {
  const described = (typeof error === "object" && error !== null ? error : {}) as Described
  const message = typeof described.message === "string" ? described.message : String(error)
  if (described._tag === "ServeError") {
    const cause = (typeof described.cause === "object" && described.cause !== null ? described.cause : {}) as Described
    return cause.code === "EADDRINUSE"
      ? `cannot listen on ${String(cause.address)}:${
        String(cause.port)
      }: the port is in use; choose another with --port or PORT`
      : `cannot serve HTTP: ${describe(described.cause)}`
  }
  return message === "" && described.cause !== undefined ? describe(described.cause) : message
}

/** Prints the failure as one clear line and fails, so the process exits non-zero. */
export const reportFailure = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.tapErrorCause(effect, (cause) => {
    const failure = Cause.failureOption(cause)
    const message = Option.match(failure, {
      onNone: () => Cause.pretty(cause),
      onSome: describe
    })
    return Console.error(`jj-watcher: ${message}`)
  })
