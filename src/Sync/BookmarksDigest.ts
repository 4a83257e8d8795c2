import { createHash } from "node:crypto"

/**
 * A digest of jj's bookmark listing as printed (jj lists in a fixed order): equal digests mean the `bookmarks` rows a
 * sync would write are the ones it wrote last time, so nothing is decoded, staged or compared.
 */
export const listingDigest = (listing: ReadonlyArray<string>): string => {
  const hash = createHash("sha256")
  for (const line of listing) hash.update(line).update("\n")
  return `listing:${hash.digest("hex")}`
}
