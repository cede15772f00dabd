/**
 * Software adapters: WebGPU adapters that run the kernels on the CPU (Mesa's
 * llvmpipe/lavapipe, Google's SwiftShader, any adapter that says it is a
 * fallback adapter). On a machine with no GPU they are slower than diffract's
 * own CPU path, so `--backend auto` passes them by (issue 14); `--backend gpu`
 * still runs on them (CI tests the WGSL kernels on lavapipe that way).
 *
 * Host core: nothing from `node:`. The Node side also recognises software
 * Vulkan drivers from their ICD manifests (node-vulkan.ts), before Dawn loads.
 */

/** What the adapter says of itself (`GPUAdapterInfo` fields, plus the fallback flag). */
export interface AdapterIdentity {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** `GPUAdapterInfo.isFallbackAdapter` (or the older `GPUAdapter.isFallbackAdapter`) */
  fallback?: boolean;
}

/** Names of CPU renderers, as they appear in vendor, architecture, device or description. */
const SOFTWARE_NAMES = /llvmpipe|lavapipe|swiftshader|softpipe/i;

/**
 * Why `adapter` counts as a software adapter ('architecture software',
 * 'llvmpipe in its description', 'a fallback adapter'), or null for a
 * hardware one.
 */
export function softwareAdapterReason(adapter: AdapterIdentity): string | null {
  if (adapter.architecture.trim().toLowerCase() === 'software') return 'architecture software';
  for (const field of ['description', 'device', 'vendor', 'architecture'] as const) {
    const m = SOFTWARE_NAMES.exec(adapter[field]);
    if (m !== null) return `${m[0].toLowerCase()} in its ${field}`;
  }
  if (adapter.fallback === true) return 'a fallback adapter';
  return null;
}

/** `adapter.info.isFallbackAdapter`, or the older `adapter.isFallbackAdapter`. */
export function adapterIsFallback(adapter: GPUAdapter): boolean {
  const info = adapter.info as Partial<GPUAdapterInfo> | undefined;
  const old = (adapter as { isFallbackAdapter?: unknown }).isFallbackAdapter;
  return info?.isFallbackAdapter === true || old === true;
}
