import { Config, Effect, Option, Redacted } from "effect"
import * as jose from "jose"
import { createHash, timingSafeEqual } from "node:crypto"
import { Unauthorized, User } from "./Auth/Api.js"

export const AuthConfig = Config.all({
  adminToken: Config.option(Config.redacted("WATCHER_ADMIN_TOKEN")),
  jwtSecret: Config.option(Config.redacted("WATCHER_JWT_SECRET")),
  /** PEM (SPKI) public key for RS256/ES256/EdDSA tokens. */
  jwtPublicKey: Config.option(Config.string("WATCHER_JWT_PUBLIC_KEY")),
  jwtAlgorithm: Config.string("WATCHER_JWT_ALGORITHM").pipe(Config.withDefault("RS256")),
  jwtIssuer: Config.option(Config.string("WATCHER_JWT_ISSUER")),
  jwtAudience: Config.option(Config.string("WATCHER_JWT_AUDIENCE")),
  metricsRequireToken: Config.boolean("METRICS_REQUIRE_TOKEN").pipe(Config.withDefault(false))
})

const digest = (value: string) => createHash("sha256").update(value).digest()

/** Constant-time comparison (of digests, so lengths never leak either). */
const sameSecret = (given: string, expected: Redacted.Redacted) =>
  timingSafeEqual(digest(given), digest(Redacted.value(expected)))

const grantsAdmin = (payload: jose.JWTPayload) =>
  payload["admin"] === true || payload["role"] === "admin" ||
  (Array.isArray(payload["roles"]) && payload["roles"].includes("admin"))

/**
 * Turns a bearer token into a User: the admin token (`WATCHER_ADMIN_TOKEN`), or a JWT verified with `jose` against
 * `WATCHER_JWT_SECRET` (HS256) or `WATCHER_JWT_PUBLIC_KEY`. Tokens are never logged.
 */
export class Authenticator extends Effect.Service<Authenticator>()("jj-watcher/Authenticator", {
  effect: Effect.gen(function*() {
    const config = yield* AuthConfig
    const verifiers: Array<{ key: Parameters<typeof jose.jwtVerify>[1]; algorithms: Array<string> }> = []
    if (Option.isSome(config.jwtSecret)) {
      verifiers.push({ key: new TextEncoder().encode(Redacted.value(config.jwtSecret.value)), algorithms: ["HS256"] })
    }
    if (Option.isSome(config.jwtPublicKey)) {
      const pem = config.jwtPublicKey.value
      const key = yield* Effect.tryPromise({
        try: () => jose.importSPKI(pem, config.jwtAlgorithm),
        catch: (cause) =>
          new Error(`WATCHER_JWT_PUBLIC_KEY is not a usable ${config.jwtAlgorithm} public key: ${cause}`)
      }).pipe(Effect.orDie)
      verifiers.push({ key, algorithms: [config.jwtAlgorithm] })
    }
    const verifyOptions = {
      ...Option.match(config.jwtIssuer, { onNone: () => ({}), onSome: (issuer) => ({ issuer }) }),
      ...Option.match(config.jwtAudience, { onNone: () => ({}), onSome: (audience) => ({ audience }) })
    }

    const verifyJwt = (token: string) =>
      Effect.tryPromise({
        try: async () => {
          let lastError: unknown = new Error("no JWT key configured")
          for (const verifier of verifiers) {
            const verified = await jose.jwtVerify(token, verifier.key, {
              ...verifyOptions,
              algorithms: verifier.algorithms
            }).catch((error: unknown) => {
              lastError = error
              return undefined
            })
            if (verified !== undefined) return verified.payload
          }
          throw lastError
        },
        catch: (cause) =>
          new Unauthorized({
            message: cause instanceof jose.errors.JWTExpired ? "token expired" : "invalid token"
          })
      })

    const authenticate = Effect.fn("Authenticator.authenticate")(function*(bearer: Redacted.Redacted) {
      const token = Redacted.value(bearer)
      if (token === "") return yield* new Unauthorized({ message: "missing bearer token" })
      if (Option.isSome(config.adminToken) && sameSecret(token, config.adminToken.value)) {
        return new User({ username: null, isAdmin: true })
      }
      const payload = yield* verifyJwt(token)
      if (typeof payload.sub !== "string" || payload.sub === "") {
        return yield* new Unauthorized({ message: "token has no subject" })
      }
      return new User({ username: payload.sub, isAdmin: grantsAdmin(payload) })
    })

    return { authenticate, metricsRequireToken: config.metricsRequireToken } as const
  })
}) {}
