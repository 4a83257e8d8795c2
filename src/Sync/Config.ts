import { Config, Duration } from "effect"

export const SyncConfig = Config.all({
  /** Stop reading changes after this many and say so; unlimited when unset. */
  maxChanges: Config.option(
    Config.integer("WATCHER_MAX_CHANGES").pipe(Config.validate({
      message: "WATCHER_MAX_CHANGES must be positive",
      validation: (n) => n > 0
    }))
  ),
  timeout: Config.duration("SYNC_TIMEOUT").pipe(Config.withDefault(Duration.minutes(10))),
  retries: Config.integer("SYNC_RETRIES").pipe(Config.withDefault(3)),
  batchSize: Config.integer("SYNC_BATCH_SIZE").pipe(Config.withDefault(2_000)),
  notifyChannel: Config.string("NOTIFY_CHANNEL").pipe(Config.withDefault("jj_watcher")),
  /** How often a repository is compared with jj in full, repairing drift; 0 turns reconciliation off. */
  reconcileInterval: Config.duration("SYNC_RECONCILE_INTERVAL").pipe(Config.withDefault(Duration.hours(1))),
  /** Operations of undo state kept in memory across repositories, between syncs (see `Operations/UndoMemos`). */
  undoStateOperations: Config.integer("SYNC_UNDO_STATE_OPERATIONS").pipe(
    Config.withDefault(200_000),
    Config.validate({ message: "SYNC_UNDO_STATE_OPERATIONS must be 0 or more", validation: (n) => n >= 0 })
  )
})

/**
 * The version of what a sync derives from jj into the tables. Bump it when a migration or a reader changes the rows a
 * mirror holds: every mirror written before is then read again in full ("format-changed").
 */
export const mirrorFormat = 1
