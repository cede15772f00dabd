/** Types for h5wasm-plugins (compression filter plugins for h5wasm; the package ships none). */
declare module 'h5wasm-plugins' {
  /** The part of the h5wasm module that the plugin helpers use. */
  interface H5PluginHost {
    get_plugin_search_paths(): string[];
    insert_plugin_search_path(search_path: string, index: number): number;
  }
  /** the plugin names bundled with the package (bshuf, lz4, blosc, zstd, …) */
  export const plugin_names: readonly string[];
  /** file URL of the package folder */
  export const base_url: string;
  /** Puts the package's own plugins folder first on h5wasm's plugin search path (Node: real files). */
  export function install_local_plugins(h5wasm_module: H5PluginHost): void;
  /** The plugin files in the first search path. */
  export function list_plugins(h5wasm_module: H5PluginHost): string[];
}
