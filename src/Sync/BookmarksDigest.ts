import { createHash } from "node:crypto"
import type { Bookmark } from "../Domain/Jj.js"

/**
 * A digest of a repository's bookmarks as jj reports them, in any order: equal digests mean the `bookmarks` rows a
 * sync would write are the ones it wrote last time.
 */
export const bookmarksDigest = (bookmarks: Iterable<Bookmark>): string => {
  const rows = [...bookmarks].map((b) =>
    JSON.stringify([b.name, b.remote, b.targetCommitIds, b.targetChangeId, b.isConflicted, b.isTracked])
  )
  rows.sort()
  const hash = createHash("sha256")
  for (const row of rows) hash.update(row).update("\n")
  return hash.digest("hex")
}
