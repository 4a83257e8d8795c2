import type { Duration } from "effect"
import { ConfigProvider, Layer } from "effect"
import { Watcher } from "../../src/Watcher.js"
import { eventually } from "./eventually.js"
import { headOperation } from "./jj.js"
import { repositoryRow } from "./sync.js"

/** Waits until the database says `owner/name` is synced at the repository's current jj operation. */
export const syncedAtHead = (repo: string, owner: string, name: string, deadline?: Duration.DurationInput) =>
  eventually(repositoryRow(owner, name), (row) => row?.lastSyncedOperationId === headOperation(repo), deadline)

/** A watcher over `base` with these settings (in front of the environment), living as long as the test's effect. */
export const watcherOver = (base: string, settings: Record<string, string>) =>
  Watcher.Default.pipe(
    Layer.provide(Layer.setConfigProvider(
      ConfigProvider.fromMap(new Map(Object.entries({ REPOS_BASE_PATH: base, ...settings }))).pipe(
        ConfigProvider.orElse(() => ConfigProvider.fromEnv())
      )
    ))
  )
