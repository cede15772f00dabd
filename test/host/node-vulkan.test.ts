/** Where the Vulkan loader looks for drivers, as vulkanDriverManifests mirrors it. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { vulkanDriverManifests } from '../../src/host/node-vulkan.ts';

describe('vulkanDriverManifests', () => {
  const root = mkdtempSync(join(tmpdir(), 'diffract-icd-'));
  const data = join(root, 'share');
  mkdirSync(join(data, 'vulkan', 'icd.d'), { recursive: true });
  const lvp = join(data, 'vulkan', 'icd.d', 'lvp_icd.x86_64.json');
  writeFileSync(lvp, '{}');
  writeFileSync(join(data, 'vulkan', 'icd.d', 'README'), 'not a manifest');
  const empty = { XDG_CONFIG_DIRS: join(root, 'none'), XDG_DATA_HOME: join(root, 'none'), XDG_DATA_DIRS: join(root, 'none') };

  it('finds manifests in the XDG data folders, and only .json files', () => {
    expect(vulkanDriverManifests({ ...empty, XDG_DATA_DIRS: `${join(root, 'none')}:${data}` })).toContain(lvp);
    expect(vulkanDriverManifests({ ...empty, XDG_DATA_DIRS: data }).filter((p) => p.startsWith(root))).toEqual([lvp]);
  });

  it('VK_DRIVER_FILES / VK_ICD_FILENAMES replace the search; a missing file is no driver', () => {
    expect(vulkanDriverManifests({ ...empty, XDG_DATA_DIRS: data, VK_ICD_FILENAMES: '/nonexistent' })).toEqual([]);
    expect(vulkanDriverManifests({ ...empty, VK_DRIVER_FILES: lvp })).toEqual([lvp]);
    expect(vulkanDriverManifests({ ...empty, VK_DRIVER_FILES: join(data, 'vulkan', 'icd.d') })).toEqual([lvp]);
  });

  it('VK_ADD_DRIVER_FILES adds to the search', () => {
    expect(vulkanDriverManifests({ ...empty, VK_ICD_FILENAMES: '/nonexistent', VK_ADD_DRIVER_FILES: lvp })).toEqual([lvp]);
  });
});
