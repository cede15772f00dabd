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
import { existsSync, readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

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
