import { ConfigProvider, Effect, Option } from "effect"

/**
 * Runs an effect with these settings (by their environment variable names) in front of the configuration it would
 * read otherwise: a command's flags over the environment, or `serve`'s local-access defaults over both. Settings
 * that are `Option.none()` are left to what comes after.
 */
export const withSettings =
  (settings: Readonly<Record<string, Option.Option<string | number> | string>>) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.configProviderWith((current) =>
      Effect.withConfigProvider(
        effect,
        ConfigProvider.fromMap(
          new Map(
            Object.entries(settings).flatMap(([name, value]) =>
              typeof value === "string" ? [[name, value]] : Option.isSome(value) ? [[name, String(value.value)]] : []
            )
          )
        ).pipe(ConfigProvider.orElse(() => current))
      )
    )
