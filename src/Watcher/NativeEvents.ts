import { Data, Effect, Queue, Stream } from "effect"
import type { Scope } from "effect"
import fs from "node:fs"

/**
 * Native file-system events (inotify on Linux) for many directories, as one Stream of keys. Each directory holds
 * one `fs.watch` handle and no fiber, so thousands of watched repositories stay cheap; `add` answers false when
 * the platform refuses another watch (e.g. the inotify limit), and the caller polls that directory instead.
 */
export interface NativeEvents<K> {
  readonly add: (key: K, directory: string) => Effect.Effect<boolean>
  readonly remove: (key: K) => Effect.Effect<void>
  readonly size: Effect.Effect<number>
  /** A key each time something in its directory changes, or its watch breaks (deleted directory). */
  readonly events: Stream.Stream<K>
}

/** The platform refused another native watch (e.g. the inotify limit); that directory is polled instead. */
export class NativeWatchRefused extends Data.TaggedError("NativeWatchRefused")<{
  readonly directory: string
  readonly reason: string
}> {}

export const makeNativeEvents = <K>(
  onRefused: (refusal: NativeWatchRefused) => Effect.Effect<void>
): Effect.Effect<NativeEvents<K>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const handles = new Map<K, fs.FSWatcher>()
    const queue = yield* Queue.unbounded<K>()
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        for (const handle of handles.values()) handle.close()
        handles.clear()
      })
    )

    const remove = (key: K) =>
      Effect.sync(() => {
        handles.get(key)?.close()
        handles.delete(key)
      })

    const add = (key: K, directory: string) =>
      Effect.gen(function*() {
        if (handles.has(key)) return true
        const handle = yield* Effect.try({
          try: () => fs.watch(directory, { persistent: false }, () => queue.unsafeOffer(key)),
          catch: (cause) =>
            new NativeWatchRefused({ directory, reason: cause instanceof Error ? cause.message : String(cause) })
        }).pipe(
          Effect.tapError(onRefused),
          Effect.option
        )
        if (handle._tag === "None") return false
        handle.value.on("error", () => {
          handle.value.close()
          if (handles.get(key) === handle.value) handles.delete(key)
          queue.unsafeOffer(key)
        })
        handles.set(key, handle.value)
        return true
      })

    return {
      add,
      remove,
      size: Effect.sync(() => handles.size),
      events: Stream.fromQueue(queue)
    }
  })
