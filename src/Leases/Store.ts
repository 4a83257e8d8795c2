import { SqlClient } from "@effect/sql"
import { Effect, Option } from "effect"
import type { RepositoryId } from "../Domain/Ids.js"
import type { HeldLease } from "./Plan.js"

/** An instance as it registers itself. */
export interface Instance {
  readonly id: string
  readonly host: string
  readonly basePath: string
}

/** What one renewal found. */
export interface Renewal {
  readonly held: ReadonlyArray<HeldLease>
  readonly share: number
  readonly claimable: number
  /** Live instances, this one included. */
  readonly instances: number
  /** Manual syncs waiting for one of this instance's repositories. */
  readonly requests: number
  /** The base directories of the other live instances. */
  readonly otherBases: ReadonlyArray<string>
  /**
   * Milliseconds until the first lease of a silent instance (no heartbeat for two renewals) expires among the
   * repositories this instance sees; null when there is none. A round then claims it at once.
   */
  readonly nextExpiryMs: number | null
}

/** A lease just claimed. */
export interface Claimed {
  readonly id: RepositoryId
  readonly epoch: number
  /** The instance whose lease had expired; null when nobody held it. */
  readonly previousOwner: string | null
  readonly lastSyncedOperationId: string | null
  readonly filesComplete: boolean
}

/** A forwarded manual sync, as its owner takes it. */
export interface SyncRequest {
  readonly id: number
  readonly repositoryId: RepositoryId
  readonly fullSync: boolean
}

/** A forwarded manual sync's outcome: the encoded `SyncResult`, or the error's tag and message. */
export interface RequestOutcome {
  readonly startedBy: string | null
  readonly result: unknown
  readonly error: { readonly tag: string; readonly message: string } | null
}

/** What peers are told on the instances channel: leases were given back, a request waits, a request is done. */
export type PeerMessage =
  | { readonly kind: "released" }
  | { readonly kind: "request"; readonly repositoryId: RepositoryId }
  | { readonly kind: "done"; readonly requestId: number }

/**
 * The SQL of leases: instances and their heartbeats, what each sees, claims with `FOR UPDATE SKIP LOCKED`, renewals
 * in one statement, releases, and forwarded manual syncs. Every lease change that peers act on at once is notified on
 * `channel` (payload: the schema, so instances over other schemas of the database ignore it, and a `PeerMessage`).
 */
export class LeaseStore extends Effect.Service<LeaseStore>()("jj-watcher/Leases/Store", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const asJson = (value: unknown) => sql`${JSON.stringify(value)}::json`
    // Numbers are converted where read: a host application's pg client may return bigint columns as strings.
    const interval = (ms: number) => sql`make_interval(secs => ${ms / 1000})`
    const notify = (channel: string, message: PeerMessage) =>
      sql`pg_notify(${channel}, (jsonb_build_object('schema', current_schema()) || ${
        JSON.stringify(message)
      }::jsonb)::text)`

    /** Live instances: heartbeat within the TTL, and this one. */
    const live = (instanceId: string, ttlMs: number) =>
      sql`SELECT id FROM watcher_instances WHERE heartbeat_at > now() - ${interval(ttlMs)} AND id <> ${instanceId}
        UNION ALL SELECT ${instanceId}`

    /** The repositories this instance sees, each with how many live instances see it. */
    const seen = (instanceId: string) =>
      sql`SELECT v.repository_id, count(*)::int AS seers
        FROM watcher_instance_repositories v JOIN live ON live.id = v.instance_id
        WHERE v.repository_id IN (SELECT repository_id FROM watcher_instance_repositories WHERE instance_id = ${instanceId})
        GROUP BY v.repository_id`

    /**
     * The heartbeat and the renewal of every lease held, in one statement, with what deciding the next step needs.
     * Registers the instance on first call. Instances silent for a hundred TTLs are deleted (with what they saw),
     * and so are requests older than an hour.
     */
    const renew = (instance: Instance, ttlMs: number, renewMs: number) =>
      // Each held lease as [id, epoch, seers]; numbers may arrive as strings (see above).
      sql<Omit<Renewal, "held"> & { readonly held: ReadonlyArray<readonly [number, number, number]> }>`
        WITH me AS (${register(instance)}
        ), gone AS (
          DELETE FROM watcher_instances WHERE heartbeat_at < now() - ${interval(ttlMs * 100)} AND id <> ${instance.id}
        ), stale_requests AS (
          -- Outcomes nobody came back for, and requests whose instance died while running them.
          DELETE FROM sync_requests WHERE requested_at < now() - interval '1 hour'
        ), renewed AS (
          UPDATE repositories SET lease_expires_at = now() + ${interval(ttlMs)}
          WHERE lease_owner = ${instance.id}
          RETURNING id, lease_epoch
        ), live AS (${live(instance.id, ttlMs)}
        ), seen AS (${seen(instance.id)})
        SELECT
          (SELECT coalesce(json_agg(json_build_array(n.id, n.lease_epoch, coalesce(s.seers, 1))), '[]')
            FROM renewed n LEFT JOIN seen s ON s.repository_id = n.id) AS held,
          (SELECT coalesce(ceil(sum(1.0 / s.seers)), 0)::int
            FROM seen s JOIN repositories r ON r.id = s.repository_id WHERE r.watched) AS share,
          (SELECT count(*)::int FROM seen s JOIN repositories r ON r.id = s.repository_id
            WHERE r.watched AND (r.lease_owner IS NULL OR r.lease_expires_at < now())) AS claimable,
          (SELECT count(*)::int FROM live) AS instances,
          (SELECT count(*)::int FROM sync_requests q JOIN renewed n ON n.id = q.repository_id
            WHERE q.finished_at IS NULL AND q.started_by IS NULL) AS requests,
          (SELECT coalesce(json_agg(DISTINCT i.base_path), '[]') FROM watcher_instances i JOIN live ON live.id = i.id
            WHERE i.id <> ${instance.id}) AS other_bases,
          (SELECT extract(epoch FROM min(r.lease_expires_at) - now()) * 1000
            FROM seen s JOIN repositories r ON r.id = s.repository_id
            WHERE r.watched AND r.lease_owner <> ${instance.id} AND r.lease_expires_at > now()
              AND r.lease_owner NOT IN (
                SELECT id FROM watcher_instances WHERE heartbeat_at > now() - ${interval(renewMs * 2)}
              )) AS next_expiry_ms,
          (SELECT count(*) FROM me) AS registered
      `.pipe(
        Effect.map(([row]): Renewal => ({
          held: (row?.held ?? []).map(([id, epoch, seers]) => ({
            id: Number(id) as RepositoryId,
            epoch: Number(epoch),
            seers: Number(seers)
          })),
          share: Number(row?.share ?? 0),
          claimable: Number(row?.claimable ?? 0),
          instances: Number(row?.instances ?? 1),
          requests: Number(row?.requests ?? 0),
          otherBases: row?.otherBases ?? [],
          nextExpiryMs: row?.nextExpiryMs === null || row?.nextExpiryMs === undefined ? null : Number(row.nextExpiryMs)
        })),
        Effect.withSpan("LeaseStore.renew")
      )

    /** The instance's row, created or with a fresh heartbeat. */
    const register = (instance: Instance) =>
      sql`
        INSERT INTO watcher_instances (id, host, base_path) VALUES (${instance.id}, ${instance.host}, ${instance.basePath})
        ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), host = excluded.host, base_path = excluded.base_path
        RETURNING id
      `

    /** Records exactly which repositories this instance sees on its disk (registering it first if need be). */
    const setVisible = (instance: Instance, ids: ReadonlyArray<RepositoryId>) =>
      sql`
        WITH me AS (${register(instance)}),
        wanted AS (SELECT json_array_elements_text(${asJson(ids)})::bigint AS repository_id),
        gone AS (
          DELETE FROM watcher_instance_repositories
          WHERE instance_id = ${instance.id} AND repository_id NOT IN (SELECT repository_id FROM wanted)
        )
        INSERT INTO watcher_instance_repositories (instance_id, repository_id)
        SELECT me.id, w.repository_id FROM me, wanted w JOIN repositories r ON r.id = w.repository_id
        ON CONFLICT DO NOTHING
      `.pipe(Effect.asVoid, Effect.withSpan("LeaseStore.setVisible", { attributes: { count: ids.length } }))

    /**
     * Claims up to `limit` watched repositories this instance sees that nobody holds, those the fewest instances see
     * first; rows another instance is claiming or writing are skipped. Every claim bumps the epoch.
     */
    const claim = (instanceId: string, ttlMs: number, limit: number) =>
      sql<
        {
          readonly id: RepositoryId
          readonly epoch: number
          readonly previousOwner: string | null
          readonly lastSyncedOperationId: string | null
          readonly filesComplete: boolean
        }
      >`
        WITH live AS (${live(instanceId, ttlMs)}
        ), seen AS (${seen(instanceId)}
        ), candidates AS (
          SELECT r.id, r.lease_owner AS previous_owner
          FROM repositories r JOIN seen s ON s.repository_id = r.id
          WHERE r.watched AND (r.lease_owner IS NULL OR r.lease_expires_at < now())
          ORDER BY s.seers, r.id
          LIMIT ${limit}
          FOR UPDATE OF r SKIP LOCKED
        )
        UPDATE repositories r SET lease_owner = ${instanceId}, lease_expires_at = now() + ${interval(ttlMs)},
          lease_epoch = r.lease_epoch + 1
        FROM candidates c WHERE r.id = c.id
        RETURNING r.id, r.lease_epoch AS epoch, c.previous_owner, r.last_synced_operation_id, r.files_complete
      `.pipe(
        Effect.map((rows) =>
          rows.map((row): Claimed => ({
            id: Number(row.id) as RepositoryId,
            epoch: Number(row.epoch),
            previousOwner: row.previousOwner,
            lastSyncedOperationId: row.lastSyncedOperationId,
            filesComplete: row.filesComplete
          }))
        ),
        Effect.withSpan("LeaseStore.claim", { attributes: { limit } })
      )

    /** Gives leases back and tells the peers, who claim them at once; returns the ids released. */
    const release = (instanceId: string, ids: ReadonlyArray<RepositoryId>, channel: string) =>
      sql<{ readonly id: RepositoryId }>`
        WITH released AS (
          UPDATE repositories SET lease_owner = NULL, lease_expires_at = NULL
          WHERE lease_owner = ${instanceId} AND id IN (SELECT json_array_elements_text(${asJson(ids)})::bigint)
          RETURNING id
        ), told AS (SELECT ${
        notify(channel, { kind: "released" })
      } FROM (SELECT 1) one WHERE EXISTS (SELECT 1 FROM released))
        SELECT id, (SELECT count(*) FROM told) AS told FROM released
      `.pipe(
        Effect.map((rows) => rows.map((row) => Number(row.id) as RepositoryId)),
        Effect.withSpan("LeaseStore.release", { attributes: { count: ids.length } })
      )

    /** A stopping instance: gives every lease back, leaves the instance list, tells the peers. */
    const retire = (instanceId: string, channel: string) =>
      sql<{ readonly released: number }>`
        WITH released AS (
          UPDATE repositories SET lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner = ${instanceId}
          RETURNING id
        ), gone AS (DELETE FROM watcher_instances WHERE id = ${instanceId})
        SELECT (SELECT count(*) FROM released)::int AS released, ${notify(channel, { kind: "released" })} AS told
      `.pipe(Effect.map(([row]) => row?.released ?? 0), Effect.withSpan("LeaseStore.retire"))

    /**
     * Queues a manual sync for the repository's owner when another live instance holds its lease, and tells it;
     * none when nobody else does (the caller syncs itself).
     */
    const enqueueRequest = (
      repositoryId: RepositoryId,
      fullSync: boolean,
      requestedBy: string,
      channel: string
    ) =>
      sql<{ readonly id: number; readonly owner: string }>`
        WITH queued AS (
          INSERT INTO sync_requests (repository_id, full_sync, requested_by)
          SELECT id, ${fullSync}, ${requestedBy} FROM repositories
          WHERE id = ${repositoryId} AND lease_owner IS NOT NULL AND lease_owner <> ${requestedBy}
            AND lease_expires_at > now()
          RETURNING id, (SELECT lease_owner FROM repositories WHERE id = ${repositoryId}) AS owner
        )
        SELECT id, owner, ${notify(channel, { kind: "request", repositoryId })} AS told FROM queued
      `.pipe(
        Effect.map((rows) => Option.fromNullable(rows[0]).pipe(Option.map((row) => ({ ...row, id: Number(row.id) })))),
        Effect.withSpan("LeaseStore.enqueueRequest")
      )

    /** Takes the waiting manual syncs of the repositories this instance holds (each is taken by one instance). */
    const takeRequests = (instanceId: string) =>
      sql<{ readonly id: number; readonly repositoryId: RepositoryId; readonly fullSync: boolean }>`
        UPDATE sync_requests SET started_by = ${instanceId}
        WHERE finished_at IS NULL AND started_by IS NULL
          AND repository_id IN (SELECT id FROM repositories WHERE lease_owner = ${instanceId})
        RETURNING id, repository_id, full_sync
      `.pipe(
        Effect.map((rows) =>
          rows.map((row): SyncRequest => ({
            id: Number(row.id),
            repositoryId: Number(row.repositoryId) as RepositoryId,
            fullSync: row.fullSync
          }))
        ),
        Effect.withSpan("LeaseStore.takeRequests")
      )

    /** Records a forwarded sync's outcome and tells the instance waiting for it. */
    const finishRequest = (
      requestId: number,
      outcome: { readonly result: unknown } | { readonly error: { readonly tag: string; readonly message: string } },
      channel: string
    ) =>
      sql`
        WITH done AS (
          UPDATE sync_requests SET finished_at = now(),
            result = ${"result" in outcome ? JSON.stringify(outcome.result) : null}::jsonb,
            error = ${"error" in outcome ? JSON.stringify(outcome.error) : null}::jsonb
          WHERE id = ${requestId}
          RETURNING id
        )
        SELECT ${notify(channel, { kind: "done", requestId })} FROM done
      `.pipe(Effect.asVoid, Effect.withSpan("LeaseStore.finishRequest"))

    /** A forwarded sync's outcome once it finished; none before. Finished requests are deleted when read. */
    const requestOutcome = (requestId: number) =>
      sql<RequestOutcome>`
        DELETE FROM sync_requests WHERE id = ${requestId} AND finished_at IS NOT NULL
        RETURNING started_by, result, error
      `.pipe(
        Effect.map((rows) =>
          Option.fromNullable(rows[0]).pipe(
            Option.map((row): RequestOutcome => ({ startedBy: row.startedBy, result: row.result, error: row.error }))
          )
        ),
        Effect.withSpan("LeaseStore.requestOutcome")
      )

    /** The schema the mirror lives in, as notifications name it. */
    const currentSchema = sql<{ readonly schema: string }>`SELECT current_schema() AS schema`.pipe(
      Effect.map(([row]) => row?.schema ?? "")
    )

    return {
      renew,
      /** Registers the instance (or renews its heartbeat) without touching what it sees or holds. */
      register: (instance: Instance) => register(instance).pipe(Effect.asVoid, Effect.withSpan("LeaseStore.register")),
      setVisible,
      claim,
      release,
      retire,
      enqueueRequest,
      takeRequests,
      finishRequest,
      requestOutcome,
      currentSchema
    } as const
  })
}) {}
