#!/usr/bin/env bash
# Installs Mesa's lavapipe (CPU Vulkan driver) from bookworm-backports, so that
# Dawn (npm package `webgpu`) finds a Vulkan adapter on a machine with no GPU.
# Bookworm's own Mesa 22 is too old: Dawn rejects its adapter.
set -euo pipefail
if ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 \
   && dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | grep -q '~bpo'; then
  echo "[setup] lavapipe from bookworm-backports already installed"
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
. /etc/os-release
if [ "${VERSION_CODENAME:-}" = "bookworm" ] && ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "[setup] adding the bookworm-backports apt source"
  printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    | $SUDO tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
if [ "${VERSION_CODENAME:-}" = "bookworm" ]; then
  $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
else
  $SUDO apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
fi
echo "[setup] installed: mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers)"
