export * from './job-events'
export * from './search-config'
export * from './runs'
