import { HttpApiBuilder, HttpServerResponse } from "@effect/platform"
import type { HttpApi, HttpApiGroup } from "@effect/platform"
import { Effect, Stream } from "effect"
import { WatcherApi } from "../Api.js"
import { CurrentUser } from "../Auth/Api.js"
import { ChangeFeed } from "../Feed.js"
import type { FeedEvent } from "../Feed.js"
import type { FeedApiGroup } from "./Api.js"

/** One server-sent event: its name, its id when it has one, and its data (JSON, one line). */
const serverSentEvent = (name: string, json: string, id?: number) =>
  `${id === undefined ? "" : `id: ${id}\n`}event: ${name}\ndata: ${json}\n\n`

const encoder = new TextEncoder()

/** Each event's bytes, made once: every subscriber is handed the same event object. */
const sent = new WeakMap<FeedEvent, Uint8Array>()
const bytesOf = (event: FeedEvent) => {
  let bytes = sent.get(event)
  if (bytes === undefined) {
    bytes = encoder.encode(serverSentEvent("sync", event.json, event.id))
    sent.set(event, bytes)
  }
  return bytes
}

const keepAlive = encoder.encode(": keep-alive\n\n")

/** The cursor a reconnecting client sends (`Last-Event-ID`), when it is one of ours. */
const lastEventId = (header: string | undefined) =>
  header !== undefined && /^\d{1,15}$/.test(header.trim()) ? Number(header.trim()) : undefined

/** Handlers of the feed group for any HttpApi that includes `FeedApiGroup`. */
export const feedHandlers = <ApiId extends string, Groups extends HttpApiGroup.HttpApiGroup.Any, E, R>(
  api: HttpApi.HttpApi<ApiId, Groups | typeof FeedApiGroup, E, R>
) =>
  HttpApiBuilder.group(
    api as HttpApi.HttpApi<ApiId, typeof FeedApiGroup, E, R>,
    "feed",
    (handlers) =>
      Effect.gen(function*() {
        const feed = yield* ChangeFeed
        return handlers.handle("events", ({ request, urlParams }) =>
          Effect.gen(function*() {
            const user = yield* CurrentUser
            const after = urlParams.after ?? lastEventId(request.headers["last-event-id"])
            const events = feed.subscribe(after, { user, repository: urlParams.repository }).pipe(
              Stream.map(bytesOf),
              // A cursor retention outran, or the database gone: said as the stream's last event.
              Stream.catchAll((error) =>
                Stream.make(encoder.encode(serverSentEvent(
                  "error",
                  JSON.stringify({
                    _tag: error._tag === "CursorExpired" ? error._tag : "FeedUnavailable",
                    message: error.message
                  })
                )))
              )
            )
            const body = Stream.merge(
              events,
              Stream.tick(feed.heartbeat).pipe(Stream.as(keepAlive)),
              { haltStrategy: "left" }
            )
            return HttpServerResponse.stream(body, {
              contentType: "text/event-stream",
              headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
            })
          }))
      })
  )

export const FeedHttpLive = feedHandlers(WatcherApi)
