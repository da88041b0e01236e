#!/bin/bash
# The Docker twin of common/src/render.ts: copies a config file from the repo, replacing each @@NAME@@
# token with the environment variable LAB_NAME. A token with no value is an error, as in render.ts, so a
# typo never reaches a server. Usage: render-tokens.sh <src> <dst>
set -euo pipefail
src="$1" dst="$2"
mkdir -p "$(dirname "$dst")"
expr=()
missing=()
for tok in $(grep -o '@@[A-Z0-9_]*@@' "$src" | sort -u); do
  name="LAB_${tok//@/}"
  if [ -z "${!name+x}" ]; then missing+=("$tok ($name)"); continue; fi
  # Escape the sed replacement's specials (\ & and the | delimiter).
  val="$(printf '%s' "${!name}" | sed -e 's/[\\&|]/\\&/g')"
  expr+=(-e "s|$tok|$val|g")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "render-tokens: $src: no value for ${missing[*]}" >&2
  exit 1
fi
if [ "${#expr[@]}" -gt 0 ]; then sed "${expr[@]}" "$src" > "$dst"; else cp "$src" "$dst"; fi
