import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import fs from "node:fs"
import path from "node:path"
import { chromium } from "playwright-core"
import { testSchemaName } from "./support/database.js"
import { httpAppLayer, serverPort } from "./support/http.js"
import { initRepo, jj, makeBaseDir, writeFile } from "./support/jj.js"
import { syncedAtHead } from "./support/watcher.js"

/**
 * The status page in a real browser (Debian's chromium through playwright-core): it lists the watched repositories
 * and updates when a jj operation lands, through the change feed. A screenshot goes to `test-output/`.
 */

const adminToken = "test-admin-token-page-0123456789"
const base = makeBaseDir("page")
const repo = initRepo(base, "carol", "site")
const outputDir = path.resolve(import.meta.dirname, "../test-output")
const chromiumPath = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium"

const schema = testSchemaName("page")
const AppLive = httpAppLayer(schema, {
  REPOS_BASE_PATH: base,
  WATCHER_ADMIN_TOKEN: adminToken,
  WATCHER_POLL_INTERVAL_MS: "100"
})

layer(AppLive, { timeout: "120 seconds", excludeTestServices: true })("status page", (it) => {
  it.scoped("shows the watched repositories and updates live when a jj operation lands", () =>
    Effect.gen(function*() {
      yield* syncedAtHead(repo, "carol", "site")
      const port = yield* serverPort
      const browser = yield* Effect.acquireRelease(
        Effect.promise(() =>
          chromium.launch({ executablePath: chromiumPath, args: ["--headless", "--no-sandbox", "--disable-gpu"] })
        ),
        (browser) => Effect.promise(() => browser.close())
      )
      const page = yield* Effect.promise(() => browser.newPage())
      // The token the page would ask for once, already kept in the browser.
      yield* Effect.promise(() =>
        page.addInitScript({ content: `localStorage.setItem("jj-watcher-token", ${JSON.stringify(adminToken)})` })
      )
      yield* Effect.promise(() => page.goto(`http://127.0.0.1:${port}/`))
      const row = page.locator(`tr[data-repository="carol/site"]`)
      yield* Effect.promise(() => row.waitFor({ timeout: 15_000 }))
      yield* Effect.promise(() => page.getByText("live").waitFor({ timeout: 15_000 }))
      const changesBefore = Number(yield* Effect.promise(() => row.locator("td").nth(4).innerText()))
      // The instance that syncs it, as the status names this one.
      const status = yield* Effect.promise(() =>
        fetch(`http://127.0.0.1:${port}/api/watcher/status`, { headers: { authorization: `Bearer ${adminToken}` } })
          .then((res) => res.json() as Promise<{ instanceId: string }>)
      )
      expect(yield* Effect.promise(() => row.locator("td").nth(11).innerText())).toBe(status.instanceId)

      // A jj operation lands: the watcher syncs it, the feed tells the page, the row shows the new counts and mode.
      writeFile(repo, "index.html", "<p>hello</p>\n")
      jj(repo, "commit", "-m", "a page")
      // Evaluated in the page.
      const updated = `(() => {
        const cells = document.querySelectorAll('tr[data-repository="carol/site"] td')
        return Number(cells[4]?.textContent) > ${changesBefore} && cells[3]?.textContent === "incremental"
      })()`
      yield* Effect.promise(() => page.waitForFunction(updated, undefined, { timeout: 15_000 }))
      // A click shows the repository's recent events.
      yield* Effect.promise(() => row.click())
      const detail = yield* Effect.promise(() => page.locator("#detail li").first().innerText())
      expect(detail).toMatch(/^#\d+ .* incremental: \+\d+ -\d+ commits/)
      fs.mkdirSync(outputDir, { recursive: true })
      const screenshot = path.join(outputDir, "status-page.png")
      yield* Effect.promise(() => page.screenshot({ path: screenshot, fullPage: true }))
      expect(fs.statSync(screenshot).size).toBeGreaterThan(1_000)
    }))
})
