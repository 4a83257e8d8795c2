import { createHash } from "node:crypto"
import type { Bookmark } from "../Domain/Jj.js"

/**
 * Digests of a repository's bookmarks as jj reports them: equal digests mean the `bookmarks` rows a sync would write
 * are the ones it wrote last time. Two forms, each stored with its prefix, so a digest of one form never equals the
 * other's:
 * - `rows:` over the decoded rows in any order, for repositories with few bookmarks, whose incremental sync reads
 *   them in the same jj process as the changed commits;
 * - `listing:` over jj's bookmark listing as printed, for repositories with many, whose incremental sync lists them in
 *   a process of its own and decodes nothing when the digest is unchanged.
 */
export const bookmarksDigest = (bookmarks: Iterable<Bookmark>): string => {
  const rows = [...bookmarks].map((b) =>
    JSON.stringify([b.name, b.remote, b.targetCommitIds, b.targetChangeId, b.isConflicted, b.isTracked])
  )
  rows.sort()
  const hash = createHash("sha256")
  for (const row of rows) hash.update(row).update("\n")
  return `rows:${hash.digest("hex")}`
}

export const listingDigest = (listing: ReadonlyArray<string>): string => {
  const hash = createHash("sha256")
  for (const line of listing) hash.update(line).update("\n")
  return `listing:${hash.digest("hex")}`
}

/** From this many bookmark rows on, an incremental sync lists bookmarks apart (the `listing:` form). */
export const bookmarksApartFrom = 200

/** Whether the last sync chose to list bookmarks apart, as its stored digest says. */
export const listsBookmarksApart = (storedDigest: string | null): boolean =>
  storedDigest !== null && storedDigest.startsWith("listing:")

/** The digest a full pass stores: the form the next incremental sync will compute, chosen by the row count. */
export const fullPassDigest = (listing: ReadonlyArray<string>, bookmarks: ReadonlyArray<Bookmark>): string =>
  bookmarks.length >= bookmarksApartFrom ? listingDigest(listing) : bookmarksDigest(bookmarks)
