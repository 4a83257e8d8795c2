import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"

/**
 * The operators' status page at `/`: static HTML and a small script that reads the API with the token the browser
 * keeps (asked for once), so the page itself needs no access.
 */
export class PageApiGroup extends HttpApiGroup.make("page")
  .add(
    HttpApiEndpoint.get("statusPage", "/")
      .addSuccess(Schema.String.pipe(HttpApiSchema.withEncoding({ kind: "Text", contentType: "text/html" })))
  )
{}
