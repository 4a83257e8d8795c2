import { HttpApiBuilder, HttpApiClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { describe, expect, layer } from "@effect/vitest"
import { Validator } from "@seriousme/openapi-schema-validator"
import { Effect, Layer } from "effect"
import * as jose from "jose"
import fs from "node:fs"
import http from "node:http"
import path from "node:path"
import { WatcherApi } from "../src/Api.js"
import { testSchemaName } from "./support/database.js"
import { eventually } from "./support/eventually.js"
import { httpAppLayer, serverPort } from "./support/http.js"
import { headOperation, initRepo, jj, makeBaseDir } from "./support/jj.js"

const adminToken = "test-admin-token-0123456789"
const jwtSecret = "test-jwt-secret-that-is-long-enough-for-hs256"
const base = makeBaseDir("http")
const outside = makeBaseDir("http-outside")
initRepo(base, "alice", "proj")
initRepo(base, "bob", "other")
// A symlink inside the base that leads outside it, to a real jj repository.
initRepo(outside, "mallory", "escape")
fs.symlinkSync(path.join(outside, "mallory"), path.join(base, "mallory"))

const schema = testSchemaName("http")
const AppLive = httpAppLayer(
  schema,
  {
    REPOS_BASE_PATH: base,
    WATCHER_ADMIN_TOKEN: adminToken,
    WATCHER_JWT_SECRET: jwtSecret,
    WATCHER_POLL_INTERVAL_MS: "100"
  },
  HttpApiBuilder.serve().pipe(Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" })))
)

const jwt = (claims: Record<string, unknown>, expiresIn: string | number = "1h") =>
  Effect.promise(() =>
    new jose.SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setIssuedAt().setExpirationTime(expiresIn)
      .sign(new TextEncoder().encode(jwtSecret))
  )

const clientWith = (token: string | undefined) =>
  HttpApiClient.make(WatcherApi, {
    transformClient: token === undefined ? undefined : HttpClient.mapRequest(HttpClientRequest.bearerToken(token))
  })

/** A raw request sent byte for byte (no URL normalisation of `..` or `%2e`): status and body. */
const raw = (method: "GET" | "POST" | "DELETE", rawPath: string, token: string | null = adminToken) =>
  Effect.gen(function*() {
    const port = yield* serverPort
    return yield* Effect.async<{ status: number; body: string }, Error>((resume) => {
      const request = http.request(
        {
          host: "127.0.0.1",
          port,
          method,
          path: rawPath,
          headers: token === null ? {} : { authorization: `Bearer ${token}` }
        },
        (response) => {
          let body = ""
          response.on("data", (chunk) => (body += String(chunk)))
          response.on("end", () => resume(Effect.succeed({ status: response.statusCode ?? 0, body })))
        }
      )
      request.on("error", (error) => resume(Effect.fail(error)))
      request.end()
    })
  })

layer(AppLive, { timeout: "120 seconds", excludeTestServices: true })("HTTP API", (it) => {
  describe("auth", () => {
    it.effect("no token, a bad token and an expired JWT are 401 with a JSON error", () =>
      Effect.gen(function*() {
        for (
          const token of [undefined, "not-a-token", yield* jwt({ sub: "alice" }, Math.floor(Date.now() / 1000) - 60)]
        ) {
          const error = yield* (yield* clientWith(token)).watcher.status().pipe(Effect.flip)
          expect(error._tag).toBe("Unauthorized")
        }
        const response = yield* raw("GET", "/api/watcher/status", null)
        expect(response.status).toBe(401)
        expect(JSON.parse(response.body)).toMatchObject({ _tag: "Unauthorized" })
        const expired = yield* raw(
          "GET",
          "/api/watcher/status",
          yield* jwt({ sub: "alice" }, Math.floor(Date.now() / 1000) - 60)
        )
        expect(JSON.parse(expired.body)).toMatchObject({ _tag: "Unauthorized", message: "token expired" })
        const wrongKey = yield* Effect.promise(() =>
          new jose.SignJWT({ sub: "alice", admin: true }).setProtectedHeader({ alg: "HS256" }).setExpirationTime("1h")
            .sign(new TextEncoder().encode("some-other-secret-of-sufficient-length"))
        )
        expect((yield* raw("GET", "/api/watcher/status", wrongKey)).status).toBe(401)
      }))

    it.effect("a user reaches their own repositories, not others' nor admin endpoints (403)", () =>
      Effect.gen(function*() {
        const alice = yield* clientWith(yield* jwt({ sub: "alice" }))
        const detail = yield* alice.watcher.getRepo({ path: { user: "alice" as never, repo: "proj" as never } })
        expect(detail.user).toBe("alice")
        const synced = yield* alice.watcher.sync({
          path: { user: "alice" as never, repo: "proj" as never },
          urlParams: {}
        })
        expect(synced.operationId).toBe(headOperation(path.join(base, "alice", "proj")))
        const denied: Array<Effect.Effect<unknown, { readonly _tag: string }>> = [
          alice.watcher.getRepo({ path: { user: "bob" as never, repo: "other" as never } }),
          alice.watcher.sync({ path: { user: "bob" as never, repo: "other" as never }, urlParams: {} }),
          alice.watcher.status(),
          alice.watcher.listRepos({ urlParams: {} }),
          alice.watcher.watch({ path: { user: "alice" as never, repo: "proj" as never } })
        ]
        for (const request of denied) expect((yield* Effect.flip(request))._tag).toBe("Forbidden")
        expect((yield* raw("GET", "/api/watcher/repos/bob/other", yield* jwt({ sub: "alice" }))).status).toBe(403)
      }))

    it.effect("the admin token and an admin JWT reach everything", () =>
      Effect.gen(function*() {
        for (
          const token of [
            adminToken,
            yield* jwt({ sub: "carol", admin: true }),
            yield* jwt({ sub: "dan", roles: ["admin"] })
          ]
        ) {
          const client = yield* clientWith(token)
          const status = yield* client.watcher.status()
          expect(status.running).toBe(true)
          expect(status.version).toMatch(/^\d+\.\d+\.\d+/)
          const detail = yield* client.watcher.getRepo({ path: { user: "bob" as never, repo: "other" as never } })
          expect(detail.repo).toBe("other")
        }
      }))
  })

  describe("endpoints", () => {
    it.effect("status, paginated repos, detail with row counts", () =>
      Effect.gen(function*() {
        const client = yield* clientWith(adminToken)
        yield* eventually(client.watcher.status(), (status) => status.watchedRepos >= 2 && status.inFlight === 0)
        const first = yield* client.watcher.listRepos({ urlParams: { limit: 1 } })
        expect(first.repos).toHaveLength(1)
        expect(first.nextCursor).not.toBeNull()
        const second = yield* client.watcher.listRepos({ urlParams: { limit: 1, cursor: first.nextCursor! } })
        expect(second.repos[0]!.repoId).toBeGreaterThan(first.repos[0]!.repoId)
        const detail = yield* eventually(
          client.watcher.getRepo({ path: { user: "alice" as never, repo: "proj" as never } }),
          (repo) => repo.lastSyncedOperationId !== null
        )
        expect(detail.counts).toMatchObject({ changes: 1, bookmarks: 0, conflicts: 0 })
        expect(detail.counts.operations).toBeGreaterThanOrEqual(2)
        const missing = yield* Effect.flip(
          client.watcher.getRepo({ path: { user: "nobody" as never, repo: "x" as never } })
        )
        expect(missing._tag).toBe("RepoNotFound")
      }))

    it.effect("watch is idempotent and 404s without a jj repository; unwatch keeps rows unless purged", () =>
      Effect.gen(function*() {
        const client = yield* clientWith(adminToken)
        const repo = { user: "alice" as never, repo: "proj" as never }
        const once = yield* client.watcher.watch({ path: repo })
        const twice = yield* client.watcher.watch({ path: repo })
        expect(twice.repoId).toBe(once.repoId)
        expect(twice.watched && twice.watching).toBe(true)
        const absent = yield* Effect.flip(
          client.watcher.watch({ path: { user: "alice" as never, repo: "absent" as never } })
        )
        expect(absent._tag).toBe("RepoNotFound")

        const kept = yield* client.watcher.unwatch({ path: repo, urlParams: {} })
        expect(kept).toMatchObject({ watched: false, purged: false })
        const afterUnwatch = yield* client.watcher.getRepo({ path: repo })
        expect(afterUnwatch.watching).toBe(false)
        expect(afterUnwatch.counts.changes).toBe(1)
        const purged = yield* client.watcher.unwatch({ path: repo, urlParams: { purge: true } })
        expect(purged.purged).toBe(true)
        expect((yield* client.watcher.getRepo({ path: repo })).counts.changes).toBe(0)
        // Back on the list, it is mirrored again.
        yield* client.watcher.watch({ path: repo })
        yield* eventually(client.watcher.getRepo({ path: repo }), (detail) => detail.counts.changes === 1)
      }))

    it.effect("sync answers with the result of a sync at the current operation", () =>
      Effect.gen(function*() {
        const client = yield* clientWith(adminToken)
        const repoPath = path.join(base, "bob", "other")
        jj(repoPath, "new", "-m", "over http")
        const result = yield* client.watcher.sync({
          path: { user: "bob" as never, repo: "other" as never },
          urlParams: {}
        })
        expect(result.operationId).toBe(headOperation(repoPath))
        expect(typeof result.durationMs).toBe("number")
      }))
  })

  describe("hostile input", () => {
    it.effect("names with traversal, slashes, NUL, absolute paths or odd characters are 400, never 500", () =>
      Effect.gen(function*() {
        const corpus = [
          "/api/watcher/repos/%2e%2e/proj",
          "/api/watcher/repos/alice/%2e%2e",
          "/api/watcher/repos/..%2f..%2fetc/passwd",
          "/api/watcher/repos/alice/proj%00",
          "/api/watcher/repos/%00/proj",
          "/api/watcher/repos/%2Fetc/passwd",
          "/api/watcher/repos/alice/%5c..%5cwindows",
          "/api/watcher/repos/alice/.git",
          "/api/watcher/repos/-rf/proj",
          "/api/watcher/repos/alice/pr%C3%B6j",
          "/api/watcher/repos/alice/a%20b",
          `/api/watcher/repos/alice/${"x".repeat(101)}`,
          "/api/watcher/repos/alice/%252e%252e",
          "/api/watcher/repos/alice/../../../etc/passwd",
          "/api/watcher/repos/alice/proj/../../bob/other"
        ]
        for (const url of corpus) {
          for (
            const [method, prefix] of [["GET", "/api/watcher/repos"], ["POST", "/api/watcher/watch"], [
              "POST",
              "/api/watcher/sync"
            ], ["DELETE", "/api/watcher/watch"]] as const
          ) {
            const response = yield* raw(method, url.replace("/api/watcher/repos", prefix))
            expect(response.status, `${method} ${url}`).toBeGreaterThanOrEqual(400)
            expect(response.status, `${method} ${url}`).toBeLessThan(500)
            expect(() => JSON.parse(response.body), `${method} ${url}`).not.toThrow()
          }
        }
      }))

    it.effect("a symlink out of the base directory is refused and nothing is recorded", () =>
      Effect.gen(function*() {
        const response = yield* raw("POST", "/api/watcher/watch/mallory/escape")
        expect(JSON.parse(response.body)).toMatchObject({ _tag: "PathRejected" })
        expect(response.status).toBe(400)
        expect((yield* raw("POST", "/api/watcher/sync/mallory/escape")).status).toBe(400)
        expect((yield* raw("GET", "/api/watcher/repos/mallory/escape")).status).toBe(404)
      }))
  })

  describe("health, metrics, OpenAPI", () => {
    it.effect("health and ready need no token", () =>
      Effect.gen(function*() {
        expect(yield* raw("GET", "/health", null)).toEqual({ status: 200, body: JSON.stringify({ status: "ok" }) })
        const ready = yield* raw("GET", "/ready", null)
        expect(ready.status).toBe(200)
        expect(JSON.parse(ready.body)).toEqual({ database: true, watcher: true, dependenciesDown: [] })
      }))

    it.effect("metrics are valid Prometheus text with the watcher's series", () =>
      Effect.gen(function*() {
        const response = yield* raw("GET", "/metrics", null)
        expect(response.status).toBe(200)
        const lines = response.body.split("\n").filter((line) => line !== "")
        const samples = lines.filter((line) => !line.startsWith("#"))
        for (const line of samples) {
          expect(line).toMatch(
            /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? -?[0-9.e+-]+|NaN|\+Inf$/
          )
        }
        const value = (series: string) => Number(samples.find((line) => line.startsWith(series))?.split(" ").at(-1))
        expect(value("jj_watcher_watched_repositories")).toBeGreaterThanOrEqual(2)
        expect(value("jj_watcher_syncs_total{result=\"success\"}")).toBeGreaterThan(0)
        expect(lines).toContain("# TYPE jj_watcher_sync_duration_seconds histogram")
        const buckets = samples.filter((line) => line.startsWith("jj_watcher_sync_duration_seconds_bucket"))
          .map((line) => Number(line.split(" ").at(-1)))
        expect(buckets.length).toBeGreaterThan(1)
        expect([...buckets].sort((a, b) => a - b)).toEqual(buckets)
        expect(buckets.at(-1)).toBe(value("jj_watcher_sync_duration_seconds_count"))
        // The standard process metrics, under their usual names.
        expect(value("process_cpu_seconds_total")).toBeGreaterThan(0)
        expect(value("process_resident_memory_bytes")).toBeGreaterThan(10_000_000)
        expect(value("process_open_fds")).toBeGreaterThan(3)
        expect(value("nodejs_heap_size_used_bytes")).toBeGreaterThan(0)
        expect(lines).toContain("# TYPE nodejs_eventloop_lag_seconds gauge")
      }))

    it.effect("the OpenAPI document is valid and lists every endpoint", () =>
      Effect.gen(function*() {
        const response = yield* raw("GET", "/openapi.json", null)
        expect(response.status).toBe(200)
        const document = JSON.parse(response.body) as { paths: Record<string, unknown> }
        const result = yield* Effect.promise(() => new Validator().validate(document))
        expect(result.errors ?? []).toEqual([])
        expect(result.valid).toBe(true)
        expect(Object.keys(document.paths).sort()).toEqual([
          "/",
          "/api/watcher/events",
          "/api/watcher/repos",
          "/api/watcher/repos/{user}/{repo}",
          "/api/watcher/status",
          "/api/watcher/sync/{user}/{repo}",
          "/api/watcher/watch/{user}/{repo}",
          "/health",
          "/metrics",
          "/ready"
        ])
      }))
  })
})
