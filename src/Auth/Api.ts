import { HttpApiMiddleware, HttpApiSchema, HttpApiSecurity } from "@effect/platform"
import { Context, Schema } from "effect"

/** Who made the request: a username from a JWT's `sub`, and whether the token grants admin. */
export class User extends Schema.Class<User>("User")({
  username: Schema.NullOr(Schema.String),
  isAdmin: Schema.Boolean
}) {}

export class CurrentUser extends Context.Tag("jj-watcher/CurrentUser")<CurrentUser, User>() {}

export class Unauthorized extends Schema.TaggedError<Unauthorized>()(
  "Unauthorized",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 401 })
) {}

export class Forbidden extends Schema.TaggedError<Forbidden>()(
  "Forbidden",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 403 })
) {}

/** Bearer token of an admin: the admin token, or a JWT with the admin claim. */
export class AdminAccess extends HttpApiMiddleware.Tag<AdminAccess>()("jj-watcher/AdminAccess", {
  failure: Schema.Union(Unauthorized, Forbidden),
  provides: CurrentUser,
  security: { bearer: HttpApiSecurity.bearer }
}) {}

/** Bearer token of an admin, or of the user named by the `:user` path segment. */
export class OwnerAccess extends HttpApiMiddleware.Tag<OwnerAccess>()("jj-watcher/OwnerAccess", {
  failure: Schema.Union(Unauthorized, Forbidden),
  provides: CurrentUser,
  security: { bearer: HttpApiSecurity.bearer }
}) {}

/** Bearer token of any user or an admin: what the endpoint shows depends on who it is (`CurrentUser`). */
export class UserAccess extends HttpApiMiddleware.Tag<UserAccess>()("jj-watcher/UserAccess", {
  failure: Schema.Union(Unauthorized, Forbidden),
  provides: CurrentUser,
  security: { bearer: HttpApiSecurity.bearer }
}) {}

/** For `/metrics` when `METRICS_REQUIRE_TOKEN` is set: like AdminAccess, otherwise open. */
export class MetricsAccess extends HttpApiMiddleware.Tag<MetricsAccess>()("jj-watcher/MetricsAccess", {
  failure: Schema.Union(Unauthorized, Forbidden),
  security: { bearer: HttpApiSecurity.bearer }
}) {}
