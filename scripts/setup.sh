#!/usr/bin/env bash
# Installs what Spindle needs on a Debian 12 machine with Node 20, and nothing else:
#   1. the Debian packages in SYSTEM_PACKAGES that are not installed yet (apt-get update runs once,
#      and only when something is missing);
#   2. the npm dependencies (`npm ci`, whose prepare script builds dist/) when node_modules is missing
#      or older than package-lock.json (the test suite's global setup rebuilds dist/ before each run);
#   3. the FUSE addon of `spindle mount` (native/fuse, node-gyp) when it is missing or older than
#      its sources;
#   4. the io_uring block I/O addon of storage nodes (native/uring, node-gyp, liburing) the same
#      way. It is optional: when liburing-dev cannot be installed or the addon does not build, setup
#      says so and goes on; storage then uses node:fs (`spindle doctor` shows which backend);
#   5. the Python venv of the PyTorch dataset and its tests (.venv, python/requirements-dev.txt)
#      when it is missing, broken or its pins changed.
# Idempotent: a second run on a ready machine changes nothing and takes about a second.
# Run it as root (or with sudo available) when a system package is missing.
set -euo pipefail

cd "$(dirname "$0")/.."
if [[ ! -f package.json || ! -f package-lock.json ]]; then
  echo "setup: run scripts/setup.sh from a Spindle checkout (no package.json/package-lock.json in $PWD)" >&2
  exit 1
fi

# Debian packages the test suite needs today. The core (meta, storage, client, CLI) needs none:
# everything it uses ships as npm packages with prebuilt binaries. Add a package here in the same
# commit as the first test that needs it (e.g. fuse3 libfuse3-dev for the mount, liburing-dev for
# the io_uring addon, etcd-server for the etcd engine, nftables iproute2 for partition tests).
SYSTEM_PACKAGES=(
  # spindle mount: the libfuse3 addon (built below) and fusermount3; compilers for node-gyp.
  fuse3 libfuse3-dev pkg-config g++ make python3
  # test/mount runs these inside the mount.
  git fio
  # test/faults/partition.test.ts: a storage node in a network namespace (ip netns, veth), cut off
  # by nftables rules inside it.
  iproute2 nftables
  # python/ (the PyTorch dataset on `spindle agent`) and test/python: the venv below is made with
  # Debian's python3 and sees Debian's torch through --system-site-packages.
  python3-venv python3-torch
  # spindle bench kvcache: Redis is the peer the KV-cache store is measured against (the bench
  # starts and stops its own redis-server on loopback; the package's service is not used).
  redis-server
  # meta on etcd (meta/kv/etcd-engine.ts): the tests and `spindle up --kv etcd` start their own
  # etcd-server processes.
  etcd-server
  # test/mount: SQLite databases on the mount (locks, concurrent writers).
  sqlite3
)
# Installed when possible, never fatal: storage nodes fall back to node:fs without them.
OPTIONAL_PACKAGES=(
  # storage block I/O: the io_uring addon (native/uring, built below; links liburing.a statically).
  liburing-dev
)

missing=()
for pkg in "${SYSTEM_PACKAGES[@]}"; do
  if ! dpkg -s "$pkg" >/dev/null 2>&1; then
    missing+=("$pkg")
  fi
done
optional_missing=()
for pkg in "${OPTIONAL_PACKAGES[@]}"; do
  if ! dpkg -s "$pkg" >/dev/null 2>&1; then
    optional_missing+=("$pkg")
  fi
done

SUDO=()
if ((${#missing[@]} + ${#optional_missing[@]} > 0)) && [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  elif ((${#missing[@]} > 0)); then
    echo "setup: need root to install ${missing[*]} (run as root or install sudo)" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
apt_updated=0
if ((${#missing[@]} > 0)); then
  echo "setup: installing system packages: ${missing[*]}"
  "${SUDO[@]}" apt-get update -q
  apt_updated=1
  "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: system packages ok (${#SYSTEM_PACKAGES[@]} required)"
fi
if ((${#optional_missing[@]} > 0)); then
  echo "setup: installing optional system packages: ${optional_missing[*]}"
  if [[ $(id -u) -ne 0 && ${#SUDO[@]} -eq 0 ]]; then
    echo "setup: warning: not root and no sudo: ${optional_missing[*]} not installed (storage will use node:fs)" >&2
  elif ! { ((apt_updated)) || "${SUDO[@]}" apt-get update -q; } ||
    ! "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${optional_missing[@]}"; then
    echo "setup: warning: could not install ${optional_missing[*]} (storage will use node:fs)" >&2
  fi
fi

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if ((node_major < 20)); then
  echo "setup: Spindle needs Node.js 20 or newer (found $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

# npm ci when node_modules is missing, or when the lock file changed since the last install
# (npm writes node_modules/.package-lock.json on every install).
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund
else
  echo "setup: node_modules up to date"
fi

# Native addons, built with node-gyp when missing or older than their sources, against the headers
# of the Node that runs Spindle (Debian's nodejs ships them in <prefix>/include/node, so node-gyp
# needs no download). A failed build leaves no addon behind (node-gyp rebuild cleans first).
node_prefix=$(dirname "$(dirname "$(node -p process.execPath)")")
nodedir_args=()
if [[ -f $node_prefix/include/node/node_api.h ]]; then
  nodedir_args=(--nodedir="$node_prefix")
fi

# addon_is_stale DIR NAME: native/DIR/build/Release/NAME.node is missing or older than its sources.
addon_is_stale() {
  local built=native/$1/build/Release/$2.node
  [[ ! -f $built || native/$1/src/addon.cc -nt $built || native/$1/binding.gyp -nt $built ]]
}

# build_addon DIR: node-gyp rebuild in native/DIR; returns its status.
build_addon() {
  (cd "native/$1" && ../../node_modules/.bin/node-gyp rebuild --loglevel=warn "${nodedir_args[@]}")
}

# The FUSE addon of `spindle mount` (required: setup fails without it).
if addon_is_stale fuse spindle_fuse; then
  echo "setup: building the FUSE addon (native/fuse)"
  build_addon fuse
else
  echo "setup: FUSE addon up to date"
fi

# The io_uring addon. Optional: without it storage nodes use node:fs; `spindle doctor` reports
# which backend a storage node would choose.
if addon_is_stale uring spindle_uring; then
  if [[ ! -f /usr/include/liburing.h ]]; then
    echo "setup: warning: liburing-dev is not installed: io_uring addon not built (storage will use node:fs)" >&2
  else
    echo "setup: building the io_uring addon (native/uring)"
    build_addon uring ||
      echo "setup: warning: the io_uring addon did not build (storage will use node:fs; see the output above)" >&2
  fi
else
  echo "setup: io_uring addon up to date"
fi

# The CRC32C addon (SSE4.2, three streams). Optional: without it common/crc32c.ts uses
# @node-rs/crc32 (about 4× slower here).
if addon_is_stale crc32c spindle_crc32c; then
  echo "setup: building the CRC32C addon (native/crc32c)"
  build_addon crc32c ||
    echo "setup: warning: the CRC32C addon did not build (checksums use @node-rs/crc32; see the output above)" >&2
else
  echo "setup: CRC32C addon up to date"
fi

# The Python environment of python/ (the PyTorch dataset) and test/python: a venv in .venv made by
# Debian's python3 (never the first `python3` on PATH, which may be another interpreter) with
# --system-site-packages, so Debian's python3-torch is visible, and the pins of
# python/requirements-dev.txt (pip, through the machine's package index). The pins installed last
# are copied into the venv: pip runs again only when the venv is missing or broken, or they changed.
# A failure here is a warning, not the end of setup: only test/python needs the venv, and it fails
# saying so (it compares the same two files).
venv=.venv
python_pins=python/requirements-dev.txt
make_python_venv() {
  if ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    echo "setup: creating the Python venv ($venv)"
    rm -rf "$venv"
    /usr/bin/python3 -m venv --system-site-packages "$venv" || return 1
  fi
  if ! cmp -s "$python_pins" "$venv/installed-requirements.txt"; then
    echo "setup: installing $python_pins into $venv"
    rm -f "$venv/installed-requirements.txt"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$python_pins" || return 1
    cp "$python_pins" "$venv/installed-requirements.txt"
  else
    echo "setup: Python venv up to date"
  fi
}
make_python_venv ||
  echo "setup: warning: the Python venv ($venv) is incomplete; test/python will fail (see the output above)" >&2
