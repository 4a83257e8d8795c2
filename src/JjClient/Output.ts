import { Stream } from "effect"
import type { JjError } from "../Domain/JjErrors.js"

/**
 * A jj command's decoded output: whole, in memory, when it was small (the common read of one new operation, where a
 * stream's machinery would cost more than the reading); else a stream of the rest, read as it is consumed.
 */
export type Output<A, E = JjError> =
  | { readonly _tag: "Whole"; readonly items: ReadonlyArray<A> }
  | { readonly _tag: "Streamed"; readonly items: Stream.Stream<A, E> }

/** The items of an output that pass `refinement`. */
export const filterOutput = <A, B extends A, E>(
  output: Output<A, E>,
  refinement: (item: A) => item is B
): Output<B, E> =>
  output._tag === "Whole"
    ? { _tag: "Whole", items: output.items.filter(refinement) }
    : { _tag: "Streamed", items: Stream.filter(output.items, refinement) }
