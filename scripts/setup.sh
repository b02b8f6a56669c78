#!/usr/bin/env bash
# setup.sh — the README's first command. On a fresh Debian/Ubuntu machine with Node >= 20.19:
#   1. installs what is missing: a libtorch (Debian's libtorch-dev, and libgloo-dev for its c10d
#      Gloo headers: data-parallel runs) with an optimized BLAS
#      (libopenblas0-openmp: without it LibTorch falls back to the reference BLAS, ~30x slower),
#      and the build tools (cmake, g++, make); for the tests and benchmarks, Debian's python3-torch
#      (the independent reference implementation) and chromium (renders the HTML report); as root,
#      or through sudo
#   2. installs the npm packages from the lockfile (npm ci)
#   3. builds the native addon (cmake-js) and the TypeScript CLI
#   4. runs `ftplan estimate` on its defaults (skip with --no-run)
# A libtorch you already have is used as it is: LIBTORCH=/path or LIBTORCH_USE_PYTORCH=1 (see docs/libtorch.md).
set -euo pipefail
cd "$(dirname "$0")/.."

run_estimate=1
for arg in "$@"; do
  case "$arg" in
    --no-run) run_estimate=0 ;;
    *) echo "setup.sh: unknown option '$arg' (only --no-run)" >&2; exit 2 ;;
  esac
done

say() { printf '\n== %s\n' "$*" >&2; }

node_ok=$(node -e 'const [a,b]=process.versions.node.split(".").map(Number); console.log(a>20||(a===20&&b>=19)?1:0)' 2>/dev/null || echo 0)
if [ "$node_ok" != 1 ]; then
  echo "setup.sh: ftplan needs Node.js >= 20.19 (found: $(node --version 2>/dev/null || echo none)). Install Node 20 LTS or newer and run again." >&2
  exit 2
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
apt_install() {
  if ! command -v apt-get >/dev/null; then
    echo "setup.sh: '$*' are missing and this is not a Debian/Ubuntu system: install them, or point LIBTORCH at a libtorch folder." >&2
    exit 2
  fi
  if [ -n "$SUDO" ] && ! command -v sudo >/dev/null; then
    echo "setup.sh: installing '$*' needs root: run as root or install sudo." >&2
    exit 2
  fi
  say "apt-get install $*"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

missing=()
for tool in cmake g++ make python3; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ! node scripts/find-libtorch.mjs >/dev/null 2>&1; then
  if [ -n "${LIBTORCH:-}" ] || [ -n "${LIBTORCH_USE_PYTORCH:-}" ]; then
    node scripts/find-libtorch.mjs >/dev/null   # an explicit choice that fails: say why, don't install another
  fi
  missing+=(libtorch-dev libopenblas0-openmp)
elif node -e 'const l=JSON.parse(process.argv[1]); process.exit(l.source.startsWith("system") ? 0 : 1)' "$(node scripts/find-libtorch.mjs)" \
     && command -v dpkg >/dev/null && ! dpkg -s libopenblas0-openmp >/dev/null 2>&1 && ! dpkg -s libopenblas0-pthread >/dev/null 2>&1; then
  missing+=(libopenblas0-openmp)   # the BLAS trap: a system libtorch over the reference BLAS
fi
# Debian's libgloo-dev: the gloo headers libtorch's c10d ProcessGroupGloo.hpp includes (libtorch-dev
# ships the c10d headers but not gloo's); without them the addon builds without data-parallel runs.
if command -v apt-get >/dev/null && [ -f /usr/include/torch/csrc/distributed/c10d/ProcessGroupGloo.hpp ] && [ ! -f /usr/include/gloo/algorithm.h ]; then missing+=(libgloo-dev); fi
if command -v apt-get >/dev/null && [[ " ${missing[*]} " == *" libtorch-dev "* ]]; then missing+=(libgloo-dev); fi
# Debian's python3-torch: the independent reference implementation that tests and benchmarks compare
# the native core against (same libtorch); only where apt is the package manager.
if command -v apt-get >/dev/null && ! /usr/bin/python3 -c 'import torch' >/dev/null 2>&1; then missing+=(python3-torch); fi
# Debian's Chromium: the tests open the HTML report headless and check the chart rendered.
if command -v apt-get >/dev/null && ! command -v chromium >/dev/null; then missing+=(chromium); fi
if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
node scripts/find-libtorch.mjs >/dev/null

say "npm ci"
npm ci --no-audit --no-fund

say "build: native addon (cmake-js) and CLI (tsc, then the start-up bundle)"
npm run build

if [ "$run_estimate" = 1 ]; then
  say "ftplan estimate (defaults: gpt2, batch 16, the tweet data set's lengths, 3 epochs)"
  node bin/ftplan.js estimate
fi
