import {
  HttpApi,
  HttpApiBuilder,
  HttpApiClient,
  HttpApiEndpoint,
  HttpApiGroup,
  HttpClient,
  HttpClientRequest
} from "@effect/platform"
import { NodeContext, NodeHttpServer } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { expect, layer } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Redacted, Schema, String } from "effect"
import pg from "pg"
import { AuthLive, MigrationsLive, WatcherApiGroup, watcherHandlers, WatcherLive } from "../src/index.js"
import { testSchemaName } from "./support/database.js"
import { eventually } from "./support/eventually.js"
import { headOperation, initRepo, jjBin, makeBaseDir } from "./support/jj.js"
import { databaseUrl } from "./support/sync.js"

// The host application: its own API (one group of its own plus the watcher's), its own SqlClient.
class HostGroup
  extends HttpApiGroup.make("host").add(HttpApiEndpoint.get("hello", "/hello").addSuccess(Schema.String))
{}
class HostApi extends HttpApi.make("host").add(HostGroup).add(WatcherApiGroup) {}

const HostGroupLive = HttpApiBuilder.group(
  HostApi,
  "host",
  (handlers) => handlers.handle("hello", () => Effect.succeed("hello from the host"))
)

const schema = testSchemaName("embedding")
const hostUrl = new URL(databaseUrl)
hostUrl.searchParams.set("options", `-c search_path=${schema}`)

const adminQuery = (text: string) =>
  Effect.promise(async () => {
    const client = new pg.Client({ connectionString: databaseUrl })
    await client.connect()
    await client.query(text).finally(() => client.end())
  })

// The host makes its schema (and drops it when done); jj-watcher's tables land in it through MigrationsLive.
const HostSchemaLive = Layer.scopedDiscard(
  Effect.acquireRelease(adminQuery(`CREATE SCHEMA ${schema}`), () => adminQuery(`DROP SCHEMA ${schema} CASCADE`))
)

const HostSqlLive = PgClient.layer({
  url: Redacted.make(hostUrl.toString()),
  transformQueryNames: String.camelToSnake,
  transformResultNames: String.snakeToCamel
}).pipe(Layer.provide(HostSchemaLive))

const base = makeBaseDir("embedding")
const repo = initRepo(base, "host", "project")

const HostLive = HttpApiBuilder.serve().pipe(
  Layer.provide(
    HttpApiBuilder.api(HostApi).pipe(Layer.provide([HostGroupLive, watcherHandlers(HostApi)]), Layer.provide(AuthLive))
  ),
  Layer.provide(WatcherLive),
  Layer.provide(MigrationsLive),
  Layer.provideMerge(HostSqlLive),
  Layer.provideMerge(NodeHttpServer.layerTest),
  Layer.provide(NodeContext.layer),
  Layer.provide(Layer.setConfigProvider(
    ConfigProvider.fromMap(
      new Map([
        ["REPOS_BASE_PATH", base],
        ["WATCHER_ADMIN_TOKEN", "host-admin-token"],
        ["JJ_BIN", jjBin]
      ])
    ).pipe(ConfigProvider.orElse(() => ConfigProvider.fromEnv()))
  ))
)

layer(HostLive, { timeout: "60 seconds", excludeTestServices: true })("embedding in another Effect app", (it) => {
  it.effect("the host serves its own endpoint and the watcher's, over its own SqlClient", () =>
    Effect.gen(function*() {
      const client = yield* HttpApiClient.make(HostApi, {
        transformClient: HttpClient.mapRequest(HttpClientRequest.bearerToken("host-admin-token"))
      })
      expect(yield* client.host.hello()).toBe("hello from the host")
      const status = yield* client.watcher.status()
      expect(status.running).toBe(true)
      const detail = yield* eventually(
        client.watcher.getRepo({ path: { user: "host" as never, repo: "project" as never } }),
        (repo) => repo.lastSyncedOperationId !== null
      )
      expect(detail.lastSyncedOperationId).toBe(headOperation(repo))
      // The rows are in the host's database, in its schema.
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM changes`
      expect(rows[0]?.n).toBe(detail.counts.changes)
    }))
})
