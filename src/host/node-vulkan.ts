/**
 * Whether the Vulkan loader could find any driver (ICD manifest), checked from
 * the files before Dawn is loaded. Dawn prints native warnings to stderr
 * ("vkCreateInstance: Found no drivers!") when it starts on a machine without
 * one; looking first keeps a machine with no GPU driver to diffract's own
 * one-line notice.
 *
 * The places searched are the Vulkan loader's (LoaderInterfaceArchitecture,
 * "Driver Discovery on Linux"): VK_DRIVER_FILES / VK_ICD_FILENAMES replace the
 * search (files or folders, ':'-separated), VK_ADD_DRIVER_FILES adds to it;
 * otherwise `vulkan/icd.d` under XDG_CONFIG_DIRS, /etc, XDG_DATA_HOME and
 * XDG_DATA_DIRS.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';

function manifestsIn(path: string): string[] {
  try {
    if (statSync(path).isDirectory()) return readdirSync(path).filter((f) => f.endsWith('.json')).map((f) => join(path, f));
    return [path];
  } catch {
    return [];
  }
}

function listed(value: string | undefined): string[] {
  return (value ?? '').split(':').filter((p) => p.trim() !== '');
}

/** The ICD manifests the Vulkan loader would consider under `env`. */
export function vulkanDriverManifests(env: Readonly<Record<string, string | undefined>>): string[] {
  const replace = listed(env.VK_DRIVER_FILES ?? env.VK_ICD_FILENAMES);
  const add = listed(env.VK_ADD_DRIVER_FILES).flatMap(manifestsIn);
  if (replace.length > 0) return [...replace.flatMap(manifestsIn), ...add];
  const dataHome = env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share');
  const dirs = [
    ...listed(env.XDG_CONFIG_DIRS ?? '/etc/xdg'),
    '/etc',
    dataHome,
    ...listed(env.XDG_DATA_DIRS ?? '/usr/local/share:/usr/share'),
  ].map((d) => join(d, 'vulkan', 'icd.d'));
  return [...dirs.filter((d) => existsSync(d)).flatMap(manifestsIn), ...add];
}

/** The driver library a manifest names (`ICD.library_path`), or null when unreadable. */
function manifestLibrary(path: string): string | null {
  try {
    const m = JSON.parse(readFileSync(path, 'utf8')) as { ICD?: { library_path?: unknown } };
    const lib = m.ICD?.library_path;
    return typeof lib === 'string' ? lib : null;
  } catch {
    return null;
  }
}

/** CPU renderers among Vulkan drivers: Mesa lavapipe (libvulkan_lvp), SwiftShader (libvk_swiftshader). */
const SOFTWARE_DRIVER = /vulkan_lvp|lavapipe|swiftshader/i;

/** Device nodes through which a Linux GPU driver reaches its hardware (DRM, NVIDIA, WSL, ROCm). */
const GPU_DEVICE_NODES: ReadonlyArray<{ dir: string; name: RegExp }> = [
  { dir: '/dev/dri', name: /^(renderD|card)\d+$/ },
  { dir: '/dev', name: /^(nvidia\d+|dxg|kfd)$/ },
];

/** Whether this Linux machine has a GPU device node (true elsewhere: no such test there). */
export function hasGpuDeviceNode(): boolean {
  if (process.platform !== 'linux') return true;
  return GPU_DEVICE_NODES.some(({ dir, name }) => {
    try {
      return readdirSync(dir).some((f) => name.test(f));
    } catch {
      return false;
    }
  });
}

/**
 * Why Vulkan can offer no hardware adapter here, only a software one: every
 * ICD manifest under `env` names a software renderer (lavapipe, SwiftShader),
 * or (Linux) the hardware drivers have no GPU device node to open. Null when
 * there is no driver at all, or a hardware adapter might exist.
 */
export function softwareVulkanOnly(env: Readonly<Record<string, string | undefined>>, gpuNode: () => boolean = hasGpuDeviceNode): string | null {
  const manifests = vulkanDriverManifests(env);
  const libs = manifests.map((m) => manifestLibrary(m));
  const soft = [...new Set(libs.filter((l): l is string => l !== null && SOFTWARE_DRIVER.test(l)).map((l) => basename(l)))];
  if (soft.length === 0) return null;
  if (soft.length === libs.length) return `the only Vulkan drivers are software renderers (${soft.join(', ')})`;
  if (!gpuNode()) return `no GPU device node (/dev/dri, /dev/nvidia*): only the software Vulkan drivers (${soft.join(', ')}) can run`;
  return null;
}
