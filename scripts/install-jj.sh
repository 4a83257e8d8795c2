#!/usr/bin/env bash
# Installs the pinned jj release (scripts/jj-version) from crates.io with `cargo install --locked`.
# Idempotent: does nothing when that version is already on PATH or in the cache.
# Prints the absolute path of the jj binary on its last line of stdout.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
version=$(tr -d '[:space:]' <"$here/jj-version")
cache=${JJ_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/jj-watcher}
root="$cache/jj-$version"

installed_version() { "$1" --version 2>/dev/null | awk '{print $2}' | cut -d- -f1; }

if command -v jj >/dev/null 2>&1 && [[ $(installed_version "$(command -v jj)") == "$version" ]]; then
  command -v jj
  exit 0
fi
if [[ -x $root/bin/jj && $(installed_version "$root/bin/jj") == "$version" ]]; then
  echo "$root/bin/jj"
  exit 0
fi

command -v cargo >/dev/null 2>&1 || { echo "install-jj: cargo is needed to build jj $version" >&2; exit 1; }
echo "install-jj: building jj-cli $version into $root (takes several minutes the first time)" >&2
mkdir -p "$cache"
# Build in a temporary root and move it into place, so an interrupted build never leaves a half install.
tmp=$(mktemp -d "$cache/.jj-$version.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cargo install --locked --quiet --root "$tmp" jj-cli@"$version" >&2
rm -rf "$root"
mv "$tmp" "$root"
trap - EXIT
echo "$root/bin/jj"
