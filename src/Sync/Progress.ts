import { Clock, Effect } from "effect"
import type { KindCounts } from "../Domain/Repository.js"

/** The rows a sync has read so far, as "changes 12000, bookmarks 10" (kinds with none left out). */
export const describeRead = (staged: KindCounts): string =>
  Object.entries(staged).filter(([, n]) => n > 0).map(([kind, n]) => `${kind} ${n}`).join(", ")

/** A progress line for the log: what was read, in how long, and the rate of changes. */
export const progressLine = (label: string, staged: KindCounts, elapsedMs: number): string => {
  const seconds = elapsedMs / 1000
  return `syncing ${label}: read ${describeRead(staged) || "nothing yet"} in ${seconds.toFixed(1)} s (${
    Math.round(staged.changes / Math.max(seconds, 0.001))
  } changes/s)`
}

/**
 * An `onProgress` callback that logs a progress line at most once per `intervalMs`, the first one `intervalMs`
 * after it was made: syncs that end sooner log nothing.
 */
export const logProgressEvery = (label: string, intervalMs: number) =>
  Effect.map(Clock.currentTimeMillis, (started) => {
    let lastLogged = started
    return (staged: KindCounts): Effect.Effect<void> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        if (now - lastLogged < intervalMs) return Effect.void
        lastLogged = now
        return Effect.logInfo(progressLine(label, staged, now - started))
      })
  })
