/** Public API of synced-segments: the destination, the receiver, the stores and the pure parsers. */
export { destination } from './destination'
export { buildSyncRequests } from './destination/syncAudience/requests'
export { resolveEndpoints } from './destination/hosts'

export { createReceiver, buildApp } from './receiver'
export type { Receiver, ReceiverOptions, BuildAppOptions } from './receiver'
export * from './receiver/config'
export { loadIntegrations, validateIntegrationsDir, IntegrationError, BUNDLED_INTEGRATIONS_DIR } from './receiver/integrations'
export type * from './receiver/integrations'
export { parseRequest } from './receiver/parse'
export { compilePointer } from './receiver/pointer'
export { renderResponseBody } from './receiver/response-body'
export { segmentKeyFor } from './receiver/segment-key'

export { openStore } from './store/open'
export { openSqliteStore } from './store/sqlite'
export { openRedisStore } from './store/redis'
export type * from './store/types'

export { replayEvents } from './replay'
export type { ReplaySummary } from './replay'

export * from './errors'
export { validateIntegrations, IntegrationDirectory, type ValidationReport } from './receiver/integrations'
