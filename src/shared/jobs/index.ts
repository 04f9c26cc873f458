export * from './job-events'
export * from './search-config'
export * from './runs'
export * from './train-config'
