import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"
import { UserAccess } from "../Auth/Api.js"

/** `owner/name`, as the feed names a repository. */
export const RepositoryFilter = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}\/[A-Za-z0-9_][A-Za-z0-9._-]{0,99}$/, {
    message: () => "a repository as owner/name"
  })
)

export const FeedParams = Schema.Struct({
  /** Replay the events after this cursor (an event id), then go on live; `Last-Event-ID` says the same. */
  after: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.nonNegative())),
  repository: Schema.optional(RepositoryFilter)
})

/**
 * The change feed, a server-sent event stream: one `event: sync` per committed sync (`id:` its cursor, `data:` its
 * JSON, a `SyncEvent`), replayed after a cursor and then live; heartbeat comments while idle; `event: error` and the
 * end of the stream when the cursor is older than what retention kept.
 */
export class FeedApiGroup extends HttpApiGroup.make("feed")
  .add(
    HttpApiEndpoint.get("events", "/events")
      .setUrlParams(FeedParams)
      .addSuccess(Schema.String.pipe(HttpApiSchema.withEncoding({ kind: "Text", contentType: "text/event-stream" })))
      .middleware(UserAccess)
  )
  .prefix("/api/watcher")
{}
