import { Clock, Effect } from "effect"
import type { DetailsProgress } from "../Domain/CommitDetails.js"
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

/** How far a details fill got, as "files and predecessors of 1500 of 50000 commits". */
export const describeDetails = (progress: DetailsProgress): string =>
  `files and predecessors of ${progress.commits} of ${progress.pending} commits`

/** A details fill's progress line for the log, with its rate. */
export const detailsProgressLine = (label: string, progress: DetailsProgress, elapsedMs: number): string => {
  const seconds = elapsedMs / 1000
  return `reading ${label}: ${describeDetails(progress)} in ${seconds.toFixed(1)} s (${
    Math.round(progress.commits / Math.max(seconds, 0.001))
  } commits/s)`
}

/**
 * An `onProgress` callback that logs `line` at most once per `intervalMs`, the first one `intervalMs` after it was
 * made: work that ends sooner logs nothing.
 */
export const logProgressEvery = <P>(intervalMs: number, line: (progress: P, elapsedMs: number) => string) =>
  Effect.map(Clock.currentTimeMillis, (started) => {
    let lastLogged = started
    return (progress: P): Effect.Effect<void> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        if (now - lastLogged < intervalMs) return Effect.void
        lastLogged = now
        return Effect.logInfo(line(progress, now - started))
      })
  })
