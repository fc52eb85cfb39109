#!/usr/bin/env bash
# Idempotent set-up behind `npm start`, `npm test` and `npm run bench`:
#   1. npm dependencies (skipped when node_modules matches package-lock.json),
#   2. a WebGPU adapter: on a machine without one, Mesa's lavapipe (Vulkan on the CPU) from
#      bookworm-backports (Debian 12's own Mesa 22 is refused by Dawn), installed when we are root on Debian,
#   3. the Fashion-MNIST data package,
#   4. the TypeScript build (incremental: quick when nothing changed).
# Elsewhere (not root, not Debian) it prints exactly what to install and goes on.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
say() { echo "setup: $*" >&2; }

# 1. npm dependencies
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi

is_root_debian() { [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ] && command -v apt-get >/dev/null; }
apt_updated=0
apt_update() { [ $apt_updated = 1 ] || { apt-get update -qq; apt_updated=1; }; }

# 2. WebGPU adapter (probe prints the adapter or "none"; Dawn's null backend does not count)
probe() { node scripts/probe-adapter.mjs 2>/dev/null || echo none; }
if [ "$(probe)" = none ]; then
  if is_root_debian; then
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    target=()
    if [ "$codename" = bookworm ]; then
      # Reuse the mirror of the existing Debian source so no address is written into this project.
      src=/etc/apt/sources.list.d/debian.sources
      bp=/etc/apt/sources.list.d/robustgpu-backports.sources
      if [ ! -f "$bp" ]; then
        uri=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' "$src" 2>/dev/null || true)
        [ -n "$uri" ] || uri=$(awk '$1=="deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
        [ -n "$uri" ] || { say "no Debian mirror found in $src or /etc/apt/sources.list"; exit 1; }
        printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" > "$bp"
        say "enabled bookworm-backports from $uri"
      fi
      target=(-t bookworm-backports)
    fi
    say "installing the Vulkan loader and Mesa lavapipe"
    apt_update
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${target[@]}" libvulkan1 mesa-vulkan-drivers >/dev/null
  else
    cat >&2 <<'MSG'
setup: no WebGPU adapter found. Install a Vulkan driver, e.g. on Debian/Ubuntu (as root):
  apt-get install libvulkan1 mesa-vulkan-drivers        (Mesa >= 24; on Debian 12 add -t bookworm-backports)
MSG
  fi
fi

# 3. Fashion-MNIST
if [ ! -d /usr/share/datasets/fashion-mnist ] && [ -z "${ROBUSTGPU_FASHION_MNIST:-}" ]; then
  if is_root_debian; then
    say "installing dataset-fashion-mnist"
    apt_update
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null
  else
    say "Fashion-MNIST not found: apt-get install dataset-fashion-mnist (or set ROBUSTGPU_FASHION_MNIST to its folder)"
  fi
fi

# 4. build (tsc is incremental through tsconfig's tsBuildInfo)
npx --no-install tsc -p tsconfig.json
