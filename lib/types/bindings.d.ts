// The `bindings` package (no types of its own): the subset the addon lookup uses.
declare module 'bindings' {
  interface BindingsOptions {
    /** File name of the addon, e.g. "pagedinfer_cpu.node". */
    bindings: string;
    /** The package folder to search under (skips bindings' stack-trace guess). */
    module_root?: string;
    /** Return the resolved path instead of require()-ing it. */
    path?: boolean;
  }
  function bindings(options: BindingsOptions & { path: true }): string;
  function bindings(options: BindingsOptions): unknown;
  export = bindings;
}
