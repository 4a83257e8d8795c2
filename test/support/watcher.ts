import type { Duration } from "effect"
import { ConfigProvider, Layer } from "effect"
import { spawn } from "node:child_process"
import path from "node:path"
import { Watcher } from "../../src/Watcher.js"
import { eventually } from "./eventually.js"
import { headOperation, jjBin } from "./jj.js"
import { databaseUrl, repositoryRow } from "./sync.js"

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

/** `jj-watcher serve` over `base` as a process of its own, in this test file's schema, with its output piped or not. */
export const spawnServe = (
  base: string,
  schema: string,
  output: "pipe" | "ignore",
  settings: Record<string, string> = {}
) =>
  spawn(process.execPath, [path.resolve(import.meta.dirname, "../../dist/bin.js"), "serve", "--repos", base], {
    env: { ...process.env, DATABASE_URL: databaseUrl, DATABASE_SCHEMA: schema, JJ_BIN: jjBin, PORT: "0", ...settings },
    stdio: ["ignore", output, output]
  })
