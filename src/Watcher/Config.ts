import { Config, Duration } from "effect"
import { randomBytes } from "node:crypto"
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
  /** How long a details fill gives way to syncs waiting for their turn, at most, before it starts anyway. */
  detailsMaxDefer: millis("WATCHER_DETAILS_MAX_DEFER_MS", 30_000),
  /** How often a long sync (a first import) logs the rows read so far and their rate. */
  progressInterval: millis("WATCHER_PROGRESS_INTERVAL_MS", 5_000),
  /** This process among the instances sharing the database; unique per running process. */
  instanceId: Config.string("WATCHER_INSTANCE_ID").pipe(
    Config.withDefault(`${os.hostname()}-${randomBytes(4).toString("hex")}`),
    Config.validate({
      message: "WATCHER_INSTANCE_ID must be 1 to 200 characters",
      validation: (id) => id.length >= 1 && id.length <= 200
    })
  ),
  /**
   * How long a lease (and an instance's heartbeat) lasts unrenewed: after a crash, its repositories are taken over
   * as its leases expire, within this (at worst one renewal later).
   */
  leaseTtl: millis("WATCHER_LEASE_TTL_MS", 4_000),
  /** How often an instance renews its leases and claims its share of the unowned repositories. */
  leaseRenewInterval: millis("WATCHER_LEASE_RENEW_MS", 1_000)
}).pipe(
  Config.validate({
    message: "WATCHER_LEASE_RENEW_MS must be less than half of WATCHER_LEASE_TTL_MS",
    validation: (config) => Duration.toMillis(config.leaseRenewInterval) * 2 < Duration.toMillis(config.leaseTtl)
  })
)
export type WatcherConfig = Config.Config.Success<typeof WatcherConfig>
