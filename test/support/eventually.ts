import { Duration, Effect, Schedule } from "effect"

/** Runs `effect` until `done` holds for its result, every 10 ms, failing after `deadline`. Real clock only. */
export const eventually = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  done: (a: A) => boolean,
  deadline: Duration.DurationInput = "15 seconds"
) =>
  effect.pipe(
    Effect.filterOrFail(done, (last) => new Error(`condition not met; last value: ${JSON.stringify(last)}`)),
    Effect.retry(Schedule.spaced("10 millis")),
    Effect.timeoutFail({
      duration: deadline,
      onTimeout: () => new Error(`condition not met within ${Duration.format(Duration.decode(deadline))}`)
    })
  )
