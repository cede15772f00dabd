#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests, which drive it through
# playwright-core with executablePath /usr/bin/chromium: the viewer
# (test/viewer/) and the ./browser entry's WebGPU kernels
# (test/browser/chromium.test.ts: --enable-unsafe-webgpu, on Chromium's bundled
# SwiftShader; no GPU or Vulkan driver needed).
# (`npx playwright install` downloads its own browser and does not work on our
# build machines.) Idempotent: does nothing when /usr/bin/chromium exists.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  echo "[setup] chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo '?')"
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
echo "[setup] installed: $(/usr/bin/chromium --version 2>/dev/null || dpkg-query -W -f='chromium ${Version}' chromium)"
