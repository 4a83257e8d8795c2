import { HttpApiBuilder, HttpServerResponse } from "@effect/platform"
import type { HttpApi, HttpApiGroup } from "@effect/platform"
import { Effect } from "effect"
import { WatcherApi } from "../Api.js"
import type { PageApiGroup } from "./Api.js"
import { statusPage } from "./StatusPage.js"

/** Handlers of the page group for any HttpApi that includes `PageApiGroup`. */
export const pageHandlers = <ApiId extends string, Groups extends HttpApiGroup.HttpApiGroup.Any, E, R>(
  api: HttpApi.HttpApi<ApiId, Groups | typeof PageApiGroup, E, R>
) =>
  HttpApiBuilder.group(
    api as HttpApi.HttpApi<ApiId, typeof PageApiGroup, E, R>,
    "page",
    (handlers) =>
      handlers.handle("statusPage", () =>
        Effect.succeed(
          HttpServerResponse.html(statusPage).pipe(HttpServerResponse.setHeader("cache-control", "no-cache"))
        ))
  )

export const PageHttpLive = pageHandlers(WatcherApi)
