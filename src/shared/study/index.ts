/** Studies: arms of runs compared in one report (issue 15). Pure TypeScript: the CLI, the engine and the renderer use it. */
export * from './schema'
export * from './report'
