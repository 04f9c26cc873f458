export * from './job-events'
export * from './search-config'
