#!/usr/bin/env bash
# Runs diffract's GPU bench on a bare GPU machine that has no Node and no
# registry access, from what bench/device-prepare.sh put into .devcarry/ and
# .gl/ here (carry both: carry [".devcarry", ".gl"], command "bash bench/device.sh").
#
# - unpacks the carried Node binary, Dawn's bindings and the bundled bench into
#   $DEVICE_WORK (default /tmp/diffract-device);
# - installs the carried Vulkan loader when `ldconfig -p` lists no libvulkan
#   (dpkg -x into /, as the device README says; DEVICE_NO_DPKG=1 skips it);
# - points the loader at the NVIDIA ICD (/usr/local/nvidia/…/nvidia_icd.json)
#   unless VK_DRIVER_FILES / VK_ICD_FILENAMES already name a driver;
# - prints the adapter, then the GPU parts of the bench sections hkl-map,
#   filter (histogram + integrate, filter statistics), merge, photon (photon
#   detection, azimuthal integration) and transfer (host → device copy rate,
#   voxel-accumulate kernel / copy), one process and one table per section,
#   with progress and elapsed time on stderr;
# - stops after DEVICE_BENCH_TIMEOUT seconds in all (default 330: the run must
#   end within 6 minutes; a section cut off loses only its own table), and
#   writes the tables (device-bench.txt) and one JSON per section to $OUT when
#   it is set.
#
# DEVICE_BENCH_SIZE (default 2) scales every workload; DEVICE_BENCH_SECTIONS
# (comma-separated) picks sections; DEVICE_BENCH_CPU=1 also runs the CPU parts
# (GPU/CPU ratios; longer).
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
say() { echo "[device.sh $(($(date +%s) - t0)) s] $*" >&2; }

if [ ! -s .devcarry/node.gz ] || [ ! -s .devcarry/bench.mjs.gz ]; then
  echo "bench/device.sh: .devcarry/ is missing: run bash bench/device-prepare.sh here first, and carry .devcarry and .gl" >&2
  exit 2
fi

if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
  if [ "${DEVICE_NO_DPKG:-0}" != 1 ] && ls .gl/*.deb >/dev/null 2>&1; then
    say "no Vulkan loader on this machine: unpacking .gl/*.deb"
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
  else
    say "warning: no Vulkan loader (libvulkan.so.1) found and none unpacked"
  fi
fi
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ] && [ -f "$nvidia_icd" ]; then
  export VK_DRIVER_FILES="$nvidia_icd"
fi
say "Vulkan drivers: ${VK_DRIVER_FILES:-${VK_ICD_FILENAMES:-the default search of the loader}}"
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >&2 || true

work="${DEVICE_WORK:-/tmp/diffract-device}"
rm -rf "$work"
mkdir -p "$work/node_modules"
gunzip -c .devcarry/node.gz > "$work/node"
chmod +x "$work/node"
cp -r .devcarry/node_modules/webgpu "$work/node_modules/"
gunzip "$work/node_modules/webgpu/dist/linux-x64/dawn.node.gz"
gunzip -c .devcarry/bench.mjs.gz > "$work/bench.mjs"
say "node $("$work/node" --version) unpacked into $work"

size="${DEVICE_BENCH_SIZE:-2}"
sections="${DEVICE_BENCH_SECTIONS:-transfer,hkl-map,photon,merge,filter}"
budget="${DEVICE_BENCH_TIMEOUT:-330}"
report="${OUT:-$work}/device-bench.txt"
: > "$report"
say "bench: sections $sections, size $size, $budget s in all"
# one process per section, so that a section cut off by the time limit leaves the others' tables
rc=0
IFS=',' read -r -a list <<< "$sections"
for section in "${list[@]}"; do
  left=$((budget - ($(date +%s) - t0)))
  if [ "$left" -le 10 ]; then
    say "no time left for $section: skipped"
    rc=124
    continue
  fi
  args=(--size "$size" --only "$section")
  [ "${DEVICE_BENCH_CPU:-0}" = 1 ] || args+=(--gpu-only)
  [ -n "${OUT:-}" ] && args+=(--json "$OUT/device-bench-$section.json")
  say "section $section ($left s left)"
  set +e
  DIFFRACT_BACKEND='' timeout "$left" "$work/node" --expose-gc "$work/bench.mjs" "${args[@]}" | tee -a "$report"
  r=${PIPESTATUS[0]}
  set -e
  if [ "$r" = 124 ]; then
    say "section $section stopped at the time limit: lower DEVICE_BENCH_SIZE"
  fi
  [ "$r" = 0 ] || rc=$r
  echo >> "$report"
done
say "done (exit $rc); tables in $report"
exit "$rc"
