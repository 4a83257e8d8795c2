import { HttpRouter } from "@effect/platform"
import { Effect, Layer } from "effect"
import { Authenticator } from "../Auth.js"
import { AdminAccess, Forbidden, MetricsAccess, OwnerAccess, UserAccess } from "./Api.js"
import type { User } from "./Api.js"

const requireAdmin = <E, R>(authenticated: Effect.Effect<User, E, R>) =>
  Effect.filterOrFail(authenticated, (user) => user.isAdmin, () => new Forbidden({ message: "admin access required" }))

export const AdminAccessLive = Layer.effect(
  AdminAccess,
  Effect.gen(function*() {
    const authenticator = yield* Authenticator
    return {
      bearer: (token) => authenticator.authenticate(token).pipe(requireAdmin)
    }
  })
)

export const OwnerAccessLive = Layer.effect(
  OwnerAccess,
  Effect.gen(function*() {
    const authenticator = yield* Authenticator
    return {
      bearer: (token) =>
        Effect.gen(function*() {
          const user = yield* authenticator.authenticate(token)
          if (user.isAdmin) return user
          const route = yield* HttpRouter.RouteContext
          if (user.username !== null && route.params["user"] === user.username) return user
          return yield* new Forbidden({ message: "only the owner or an admin may do this" })
        })
    }
  })
)

export const UserAccessLive = Layer.effect(
  UserAccess,
  Effect.map(Authenticator, (authenticator) => ({ bearer: (token) => authenticator.authenticate(token) }))
)

export const MetricsAccessLive = Layer.effect(
  MetricsAccess,
  Effect.gen(function*() {
    const authenticator = yield* Authenticator
    return {
      bearer: (token) =>
        authenticator.metricsRequireToken
          ? authenticator.authenticate(token).pipe(requireAdmin, Effect.asVoid)
          : Effect.void
    }
  })
)

export const AuthLive = Layer.mergeAll(AdminAccessLive, OwnerAccessLive, UserAccessLive, MetricsAccessLive).pipe(
  Layer.provide(Authenticator.Default)
)
