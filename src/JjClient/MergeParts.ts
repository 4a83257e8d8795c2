/**
 * Disjoint revsets that together hold every visible merge, at most `parts` of them, cut at merges spread over the
 * listing order (newest first), so that each covers a similar share of the history. With splits s1..sk (newest
 * first), U(i) = ::(s(i) | ... | s(k)) are nested sets, and the parts are merges() ~ U(1), then
 * (merges() & U(i-1)) ~ U(i), and last merges() & U(k): no merge is in two parts and none is left out, whatever the
 * shape of the graph.
 */
export const mergeParts = (mergesNewestFirst: ReadonlyArray<string>, parts: number): ReadonlyArray<string> => {
  const count = Math.max(1, Math.min(parts, mergesNewestFirst.length))
  if (mergesNewestFirst.length === 0) return []
  const splits = Array.from(
    { length: count - 1 },
    (_, i) => mergesNewestFirst[Math.floor(((i + 1) * mergesNewestFirst.length) / count)]!
  )
  const olderThan = (i: number) => `::(${splits.slice(i).join(" | ")})`
  if (splits.length === 0) return ["merges()"]
  return [
    `merges() ~ ${olderThan(0)}`,
    ...splits.slice(1).map((_, i) => `(merges() & ${olderThan(i)}) ~ ${olderThan(i + 1)}`),
    `merges() & ${olderThan(splits.length - 1)}`
  ]
}
