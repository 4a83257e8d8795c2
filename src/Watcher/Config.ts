import { Config, Duration } from "effect"
import os from "node:os"

const millis = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.withDefault(fallback),
    Config.validate({ message: `${name} must be a non-negative number of milliseconds`, validation: (n) => n >= 0 }),
    Config.map(Duration.millis)
  )

export const WatcherConfig = Config.all({
  basePath: Config.string("REPOS_BASE_PATH").pipe(Config.withDefault("repos")),
  enabled: Config.boolean("WATCHER_ENABLED").pipe(Config.withDefault(true)),
  fsEvents: Config.boolean("WATCHER_FS_EVENTS").pipe(Config.withDefault(true)),
  /** Polling of repositories without native events. */
  pollInterval: millis("WATCHER_POLL_INTERVAL_MS", 1_000),
  /** Safety-net polling of repositories that have native events. */
  safetyPollInterval: millis("WATCHER_SAFETY_POLL_INTERVAL_MS", 30_000),
  /** Rescan of the base directory for repositories created or removed (also triggered by native events). */
  scanInterval: millis("WATCHER_SCAN_INTERVAL_MS", 30_000),
  debounce: millis("WATCHER_DEBOUNCE_MS", 10),
  /** Sync a lone change at once; false waits out the debounce first (a trailing debounce, for comparison). */
  leadingEdge: Config.boolean("WATCHER_LEADING_EDGE").pipe(Config.withDefault(true)),
  maxWait: millis("WATCHER_MAX_WAIT_MS", 500),
  concurrency: Config.integer("WATCHER_CONCURRENCY").pipe(Config.withDefault(Math.max(2, os.availableParallelism()))),
  retryBase: millis("WATCHER_RETRY_BASE_MS", 1_000),
  /** How often a dependency that stopped answering (the database, jj) is probed until it answers again. */
  probeInterval: millis("WATCHER_PROBE_INTERVAL_MS", 1_000),
  retryMax: millis("WATCHER_RETRY_MAX_MS", 300_000),
  shutdownTimeout: millis("WATCHER_SHUTDOWN_TIMEOUT_MS", 10_000),
  /**
   * How long the details fill of a repository waits after the sync that asked for it: the operations that arrive
   * meanwhile join the same fill, so a busy repository pays one jj process for many commits' details.
   */
  detailsDelay: millis("WATCHER_DETAILS_DELAY_MS", 1_000),
  /** How often a long sync (a first import) logs the rows read so far and their rate. */
  progressInterval: millis("WATCHER_PROGRESS_INTERVAL_MS", 5_000)
})
export type WatcherConfig = Config.Config.Success<typeof WatcherConfig>
