export * from './errors'
export type * from './store/types'
