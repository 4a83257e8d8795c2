import { Effect, Metric, MetricBoundaries, MetricState } from "effect"

/** The watcher's Prometheus metrics, recorded with Effect's Metric module and rendered by `prometheusText`. */

const secondsBoundaries = MetricBoundaries.fromIterable([
  0.005,
  0.01,
  0.025,
  0.05,
  0.075,
  0.1,
  0.15,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60
])

export const watchedRepositories = Metric.gauge("jj_watcher_watched_repositories", {
  description: "Repositories being watched"
})

export const syncsInFlight = Metric.gauge("jj_watcher_syncs_in_flight", { description: "Syncs running now" })

export const syncQueueDepth = Metric.gauge("jj_watcher_sync_queue_depth", {
  description: "Syncs waiting for a free slot"
})

/** Tagged with `result`: success, up_to_date or failure. */
export const syncs = Metric.counter("jj_watcher_syncs_total", { description: "Syncs by result", incremental: true })

export const syncDuration = Metric.histogram(
  "jj_watcher_sync_duration_seconds",
  secondsBoundaries,
  "Time of one sync, from pinning the operation to commit"
)

export const changeToDatabase = Metric.histogram(
  "jj_watcher_change_to_database_seconds",
  secondsBoundaries,
  "Time from noticing a change to committing it"
)

/** Tagged with `repository` (owner/name): consecutive failed syncs, 0 once one succeeds. */
export const repositoryFailures = Metric.gauge("jj_watcher_repository_consecutive_failures", {
  description: "Consecutive failed syncs per repository"
})

/** Tagged with `reason` (first-sync, requested, previous-operation-missing, format-changed, reconciliation, ...). */
export const fullSyncs = Metric.counter("jj_watcher_full_syncs_total", {
  description: "Syncs that read everything instead of only what changed, by reason",
  incremental: true
})

/** Tagged with `kind`: rows a reconciliation found different from jj after the incremental part, and rewrote. */
export const reconciliationRepairs = Metric.counter("jj_watcher_reconciliation_repaired_rows_total", {
  description: "Rows repaired by periodic reconciliation, by kind",
  incremental: true
})

export const recordSync = (result: {
  readonly upToDate: boolean
  readonly fullReason: string | null
  readonly repaired: { readonly [kind: string]: number } | null
}, seconds: number) =>
  Effect.all([
    Metric.increment(Metric.tagged(syncs, "result", result.upToDate ? "up_to_date" : "success")),
    Metric.update(syncDuration, seconds),
    result.fullReason === null ? Effect.void : Metric.increment(Metric.tagged(fullSyncs, "reason", result.fullReason)),
    Effect.forEach(
      Object.entries(result.repaired ?? {}),
      ([kind, rows]) => Metric.incrementBy(Metric.tagged(reconciliationRepairs, "kind", kind), rows)
    )
  ], { discard: true })

export const recordSyncFailure = Metric.increment(Metric.tagged(syncs, "result", "failure"))

const escapeLabel = (value: string) => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, "\\\"")

const labels = (tags: ReadonlyArray<{ key: string; value: string }>, extra?: string) => {
  const parts = tags.map((tag) => `${tag.key}="${escapeLabel(tag.value)}"`)
  if (extra !== undefined) parts.push(extra)
  return parts.length === 0 ? "" : `{${parts.join(",")}}`
}

/** The watcher's metrics in the Prometheus text exposition format (version 0.0.4). */
export const prometheusText = Effect.map(Metric.snapshot, (pairs) => {
  const families = new Map<string, { help: string; type: string; lines: Array<string> }>()
  const family = (name: string, help: string | undefined, type: string) => {
    let entry = families.get(name)
    if (entry === undefined) {
      entry = { help: help ?? name, type, lines: [] }
      families.set(name, entry)
    }
    return entry.lines
  }
  for (const { metricKey, metricState } of pairs) {
    // Only the watcher's own metrics: Effect's runtime metrics are not part of the contract.
    if (!metricKey.name.startsWith("jj_watcher_")) continue
    const name = metricKey.name.replace(/[^a-zA-Z0-9_:]/g, "_")
    const help = metricKey.description._tag === "Some" ? metricKey.description.value : undefined
    const tags = metricKey.tags
    if (MetricState.isCounterState(metricState)) {
      family(name, help, "counter").push(`${name}${labels(tags)} ${metricState.count}`)
    } else if (MetricState.isGaugeState(metricState)) {
      family(name, help, "gauge").push(`${name}${labels(tags)} ${metricState.value}`)
    } else if (MetricState.isHistogramState(metricState)) {
      const lines = family(name, help, "histogram")
      for (const [boundary, count] of metricState.buckets) {
        lines.push(
          `${name}_bucket${labels(tags, `le="${boundary === Number.POSITIVE_INFINITY ? "+Inf" : boundary}"`)} ${count}`
        )
      }
      if (!metricState.buckets.some(([boundary]) => boundary === Number.POSITIVE_INFINITY)) {
        lines.push(`${name}_bucket${labels(tags, "le=\"+Inf\"")} ${metricState.count}`)
      }
      lines.push(`${name}_sum${labels(tags)} ${metricState.sum}`)
      lines.push(`${name}_count${labels(tags)} ${metricState.count}`)
    }
  }
  return [...families].map(([name, { help, lines, type }]) =>
    `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${lines.join("\n")}\n`
  ).join("")
})

/**
 * The standard process metrics (CPU seconds, resident memory, open file descriptors, event-loop lag, heap, GC), by
 * prom-client: the reference implementation of their names and meaning, collected from the moment this is made.
 * Returns their exposition, to follow `prometheusText`.
 */
export const makeProcessMetrics = Effect.promise(() => import("prom-client")).pipe(
  // Loaded by the server only: a `sync` process has no use for it.
  Effect.map(({ collectDefaultMetrics, Registry }) => {
    const registry = new Registry()
    collectDefaultMetrics({ register: registry })
    return Effect.promise(() => registry.metrics())
  })
)

export const leasesHeld = Metric.gauge("jj_watcher_leases_held", {
  description: "Repositories this instance holds the lease of"
})

/** Claims of a repository whose previous owner's lease had expired (a crashed or paused instance). */
export const leaseTakeovers = Metric.counter("jj_watcher_lease_takeovers_total", {
  description: "Leases taken over from an instance that stopped renewing them",
  incremental: true
})

/** Leases this instance found held by another instance at a renewal (it had been paused or cut off). */
export const leasesLost = Metric.counter("jj_watcher_leases_lost_total", {
  description: "Leases lost to another instance",
  incremental: true
})
