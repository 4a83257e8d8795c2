import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Chunk, Clock, Config, Duration, Effect, Option, PubSub, Schedule, Schema, Stream } from "effect"
import type { User } from "./Auth/Api.js"
import { SyncEvent } from "./Domain/Events.js"
import { SyncConfig } from "./Sync/Config.js"

export const FeedConfig = Config.all({
  /** Events older than this are pruned. */
  retention: Config.duration("SYNC_EVENTS_RETENTION").pipe(Config.withDefault(Duration.days(7))),
  /** At most this many events are kept per repository, the newest; unset keeps all within `retention`. */
  maxPerRepository: Config.option(
    Config.integer("SYNC_EVENTS_MAX_PER_REPOSITORY").pipe(
      Config.validate({ message: "SYNC_EVENTS_MAX_PER_REPOSITORY must be at least 1", validation: (n) => n >= 1 })
    )
  ),
  pruneInterval: Config.integer("SYNC_EVENTS_PRUNE_INTERVAL_MS").pipe(
    Config.withDefault(60_000),
    Config.map(Duration.millis)
  ),
  /** A comment on an idle stream this often keeps proxies from closing it. */
  heartbeat: Config.integer("EVENTS_HEARTBEAT_MS").pipe(Config.withDefault(15_000), Config.map(Duration.millis))
})

/** A cursor older than the events retention kept: the client must read the mirror again, then follow from now. */
export class CursorExpired extends Schema.TaggedError<CursorExpired>()("CursorExpired", {
  after: Schema.Number,
  prunedThrough: Schema.Number
}) {
  get message() {
    return `events up to ${this.prunedThrough} were pruned, so those after ${this.after} are not all kept: read the ` +
      `mirror's tables again, then follow the feed from now (no cursor)`
  }
}

/** Who reads the feed, and of which repository. */
export interface FeedReader {
  readonly user: User
  /** `owner/name`; every repository the user may see when undefined. */
  readonly repository: string | undefined
}

/** An event as the feed hands it out: encoded once, for every subscriber. */
export interface FeedEvent {
  readonly id: number
  /** `owner/name`. */
  readonly repository: string
  /** The `SyncEvent`, encoded as JSON. */
  readonly json: string
}

const encodeEvent = Schema.encodeSync(SyncEvent)

const EventRow = Schema.Struct({
  ...SyncEvent.fields,
  createdAt: Schema.DateFromSelf
})

/**
 * The change feed: the events committed syncs append to `sync_events`, replayed after a cursor and then followed live.
 * One listener per process (`LISTEN` on `NOTIFY_CHANNEL`, and a read every second in case a notification was lost)
 * reads new events in id order and publishes them to every subscriber; retention prunes old ones in the background.
 */
export class ChangeFeed extends Effect.Service<ChangeFeed>()("jj-watcher/ChangeFeed", {
  scoped: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const pg = yield* PgClient.PgClient
    const config = yield* FeedConfig
    const { notifyChannel } = yield* SyncConfig
    const decodeRows = Schema.decodeUnknown(Schema.Array(EventRow))

    const visibleTo = (reader: FeedReader) => {
      const [owner, name] = reader.repository?.split("/") ?? []
      const ownerClause = reader.user.isAdmin ? sql`` : sql` AND r.owner = ${reader.user.username ?? ""}`
      const repositoryClause = owner === undefined ? sql`` : sql` AND r.owner = ${owner} AND r.name = ${name ?? ""}`
      return sql`${ownerClause}${repositoryClause}`
    }

    /** Events after `after`, in id order, at most `limit`. */
    const readAfter = (after: number, limit: number, reader?: FeedReader) =>
      sql`
        SELECT e.id, r.owner || '/' || r.name AS repository, e.repository_id, e.operation_id, e.previous_operation_id,
          e.mode, e.full_reason, e.written, e.changed, e.created_at
        FROM sync_events e JOIN repositories r ON r.id = e.repository_id
        WHERE e.id > ${after}${reader === undefined ? sql`` : visibleTo(reader)}
        ORDER BY e.id LIMIT ${limit}
      `.pipe(
        Effect.flatMap(decodeRows),
        Effect.catchTag("ParseError", Effect.die),
        Effect.map((rows) =>
          rows.map((row): FeedEvent => {
            const event = new SyncEvent(row)
            return { id: event.id, repository: event.repository, json: JSON.stringify(encodeEvent(event)) }
          })
        )
      )

    const lastId = sql<{ readonly id: number }>`SELECT coalesce(max(id), 0)::bigint AS id FROM sync_events`.pipe(
      Effect.map((rows) => Number(rows[0]?.id ?? 0))
    )
    const prunedThrough = sql<{ readonly id: number }>`SELECT through_id AS id FROM sync_events_pruned`.pipe(
      Effect.map((rows) => Number(rows[0]?.id ?? 0))
    )

    const published = yield* PubSub.unbounded<FeedEvent>()
    let publishedThrough = yield* lastId
    /** Publishes every event committed since the last one published, in id order. */
    const pump: Effect.Effect<void, SqlError> = Effect.gen(function*() {
      const events = yield* readAfter(publishedThrough, 1_000)
      for (const event of events) {
        publishedThrough = event.id
        yield* PubSub.publish(published, event)
      }
      if (events.length === 1_000) yield* pump
    })
    const pumpQuietly = pump.pipe(Effect.catchAll((error) => Effect.logDebug("reading new sync events failed", error)))
    yield* Stream.merge(
      pg.listen(notifyChannel).pipe(Stream.retry(Schedule.spaced("1 second"))),
      Stream.tick("1 second")
    ).pipe(Stream.runForEach(() => pumpQuietly), Effect.forkScoped)

    /** Deletes events older than the retention, or beyond the newest `maxPerRepository` of their repository. */
    const prune = Effect.gen(function*() {
      const cutoff = new Date((yield* Clock.currentTimeMillis) - Duration.toMillis(config.retention))
      const cap = Option.getOrUndefined(config.maxPerRepository)
      for (;;) {
        const [deleted] = yield* sql<{ readonly n: number }>`
          WITH doomed AS (
            SELECT id FROM sync_events WHERE created_at < ${cutoff}
            ${
          cap === undefined ? sql`` : sql`UNION SELECT id FROM (
              SELECT id, row_number() OVER (PARTITION BY repository_id ORDER BY id DESC) AS newer FROM sync_events
            ) ranked WHERE newer > ${cap}`
        }
            ORDER BY id LIMIT 10000
          ), deleted AS (
            DELETE FROM sync_events WHERE id IN (SELECT id FROM doomed) RETURNING id
          ), marked AS (
            UPDATE sync_events_pruned SET through_id = greatest(through_id, (SELECT max(id) FROM deleted))
            WHERE EXISTS (SELECT 1 FROM deleted)
            RETURNING 1
          ) SELECT (SELECT count(*) FROM deleted)::int AS n
        `
        if ((deleted?.n ?? 0) < 10_000) return
      }
    }).pipe(Effect.withSpan("ChangeFeed.prune"))
    yield* prune.pipe(
      Effect.catchAll((error) => Effect.logWarning("pruning sync events failed", error)),
      Effect.repeat(Schedule.spaced(config.pruneInterval)),
      Effect.forkScoped
    )

    /**
     * The events after `after` that `reader` may see, then every new one as it commits, each once and in order; the
     * events from now on when `after` is undefined. Fails with `CursorExpired` when retention pruned events after it.
     */
    const subscribe = (
      after: number | undefined,
      reader: FeedReader
    ): Stream.Stream<FeedEvent, CursorExpired | SqlError> =>
      Stream.unwrapScoped(Effect.gen(function*() {
        // Subscribed before the replay is read: an event is either in the replay or arrives after it.
        const live = yield* PubSub.subscribe(published)
        const pruned = yield* prunedThrough
        if (after !== undefined && after < pruned) {
          return yield* new CursorExpired({ after, prunedThrough: pruned })
        }
        let sent = after ?? (yield* lastId)
        const replay = Stream.paginateChunkEffect(sent, (cursor) =>
          Effect.map(readAfter(cursor, 500, reader), (events) => {
            const last = events.at(-1)
            return [
              Chunk.unsafeFromArray(events),
              last === undefined || events.length < 500 ? Option.none<number>() : Option.some(last.id)
            ] as const
          }))
        const visible = (event: FeedEvent) => {
          const [owner] = event.repository.split("/")
          return (reader.user.isAdmin || owner === reader.user.username) &&
            (reader.repository === undefined || reader.repository === event.repository)
        }
        return Stream.concat(replay, Stream.fromQueue(live)).pipe(
          Stream.filter((event) => {
            if (event.id <= sent || !visible(event)) {
              return false
            }
            sent = event.id
            return true
          })
        )
      }))

    return { subscribe, heartbeat: config.heartbeat, prune } as const
  })
}) {}
