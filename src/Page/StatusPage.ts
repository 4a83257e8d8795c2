/**
 * The status page: the watched repositories (last sync, mode, rows, last error), updated live from the change feed,
 * and a repository's recent events on click. Plain HTML and one script, no build step. The admin token is asked for
 * once and kept in the browser's localStorage; a 401 or 403 asks again.
 */
export const statusPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>jj-watcher</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d1d1f; }
  header { display: flex; gap: 1rem; align-items: baseline; }
  h1 { font-size: 1.3rem; margin: 0; }
  #state { color: #666; }
  table { border-collapse: collapse; margin-top: 1rem; width: 100%; }
  th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid #ddd; white-space: nowrap; }
  td.error { color: #b00020; white-space: normal; }
  tbody tr { cursor: pointer; }
  tbody tr:hover { background: #f4f6fb; }
  tr.fresh { background: #e8f5e9; }
  #detail { margin-top: 1.5rem; }
  #detail li { font-family: ui-monospace, monospace; font-size: 12px; }
  button { font: inherit; }
</style>
</head>
<body>
<header><h1>jj-watcher</h1><span id="state">loading…</span><button id="forget" type="button">forget token</button></header>
<table id="repos">
  <thead><tr><th>repository</th><th>last sync</th><th>operation</th><th>mode</th><th>changes</th><th>bookmarks</th>
  <th>operations</th><th>open conflicts</th><th>files</th><th>failures</th><th>last error</th><th>synced by</th></tr></thead>
  <tbody></tbody>
</table>
<section id="detail" hidden><h2></h2><ol></ol></section>
<script>
"use strict"
const tokenKey = "jj-watcher-token"
const token = () => {
  let value = localStorage.getItem(tokenKey)
  if (!value) {
    value = prompt("jj-watcher admin token (WATCHER_ADMIN_TOKEN, or the admin-token file serve wrote)") || ""
    if (value) localStorage.setItem(tokenKey, value)
  }
  return value
}
const headers = () => ({ authorization: "Bearer " + token() })
const state = (text) => { document.getElementById("state").textContent = text }
const refused = (response) => {
  if (response.status === 401 || response.status === 403) {
    localStorage.removeItem(tokenKey)
    throw new Error("the token was refused; reload to enter another")
  }
  return response
}
const api = (path) => fetch(path, { headers: headers() }).then(refused).then((response) => response.json())
const ago = (date) => {
  const seconds = Math.max(0, Math.round((Date.now() - new Date(date).getTime()) / 1000))
  return seconds < 60 ? seconds + "s ago" : seconds < 3600 ? Math.round(seconds / 60) + "m ago" : Math.round(seconds / 3600) + "h ago"
}
const rows = new Map()
const recent = new Map()
const cell = (row, index, text, className) => {
  const td = row.children[index]
  td.textContent = text
  if (className) td.className = className
}
const render = (repo) => {
  const key = repo.user + "/" + repo.repo
  let row = rows.get(key)
  if (!row) {
    row = document.createElement("tr")
    row.dataset.repository = key
    for (let i = 0; i < 12; i++) row.appendChild(document.createElement("td"))
    row.addEventListener("click", () => showDetail(key))
    document.querySelector("#repos tbody").appendChild(row)
    rows.set(key, row)
  }
  cell(row, 0, key)
  cell(row, 1, repo.lastSyncedAt ? ago(repo.lastSyncedAt) : "never")
  row.children[1].dataset.at = repo.lastSyncedAt || ""
  cell(row, 2, (repo.lastSyncedOperationId || "-").slice(0, 12))
  cell(row, 4, String(repo.counts.changes))
  cell(row, 5, String(repo.counts.bookmarks))
  cell(row, 6, String(repo.counts.operations))
  cell(row, 7, String(repo.counts.conflicts))
  cell(row, 8, repo.details.complete ? String(repo.details.files) : repo.details.files + " (" + repo.details.pendingCommits + " commits to read)")
  cell(row, 9, String(repo.consecutiveFailures))
  cell(row, 10, repo.lastError || "", "error")
  cell(row, 11, repo.leaseOwner || "-")
}
const refresh = (key) => api("/api/watcher/repos/" + key).then(render)
const showDetail = (key) => {
  const section = document.getElementById("detail")
  section.hidden = false
  section.querySelector("h2").textContent = "recent events of " + key
  const list = section.querySelector("ol")
  list.replaceChildren(...(recent.get(key) || []).slice().reverse().map((event) => {
    const item = document.createElement("li")
    const moved = event.changed
    item.textContent = "#" + event.id + " " + event.createdAt + " " + event.mode + (event.fullReason ? " (" + event.fullReason + ")" : "") +
      ": +" + moved.commits.appeared.count + " -" + moved.commits.gone.count + " commits, " + moved.bookmarks.count + " bookmarks, " +
      moved.tags.count + " tags, " + moved.operations.count + " operations at " + event.operationId.slice(0, 12)
    return item
  }))
}
const onEvent = (event) => {
  const list = recent.get(event.repository) || []
  list.push(event)
  recent.set(event.repository, list.slice(-50))
  const row = rows.get(event.repository)
  if (row) {
    cell(row, 3, event.mode + (event.fullReason ? " (" + event.fullReason + ")" : ""))
    row.classList.add("fresh")
    setTimeout(() => row.classList.remove("fresh"), 1500)
  }
  refresh(event.repository).catch(() => undefined)
  if (!document.getElementById("detail").hidden && document.querySelector("#detail h2").textContent.endsWith(event.repository)) {
    showDetail(event.repository)
  }
}
const follow = async () => {
  let cursor
  for (;;) {
    try {
      const response = refused(await fetch("/api/watcher/events" + (cursor === undefined ? "" : "?after=" + cursor), { headers: headers() }))
      state("live")
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
      let buffer = ""
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        buffer += value
        let end
        while ((end = buffer.indexOf("\\n\\n")) !== -1) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const field = (name) => (block.split("\\n").find((line) => line.startsWith(name + ": ")) || "").slice(name.length + 2)
          if (field("event") === "sync") {
            cursor = Number(field("id"))
            onEvent(JSON.parse(field("data")))
          } else if (field("event") === "error") {
            cursor = undefined
            await load()
          }
        }
      }
    } catch (error) {
      state(String(error.message || error))
      if (!localStorage.getItem(tokenKey)) return
    }
    state("reconnecting…")
    await new Promise((resolve) => setTimeout(resolve, 1000))
  }
}
const load = async () => {
  const page = await api("/api/watcher/repos?limit=1000")
  await Promise.all(page.repos.map((repo) => refresh(repo.user + "/" + repo.repo)))
}
document.getElementById("forget").addEventListener("click", () => { localStorage.removeItem(tokenKey); location.reload() })
setInterval(() => {
  for (const row of rows.values()) if (row.children[1].dataset.at) row.children[1].textContent = ago(row.children[1].dataset.at)
}, 5000)
load().then(() => state("loaded"), (error) => state(String(error.message || error))).then(follow)
// Rows change without an event too (a details fill ending, a repository appearing): read them again now and then.
setInterval(() => load().catch(() => undefined), 15000)
</script>
</body>
</html>
`
