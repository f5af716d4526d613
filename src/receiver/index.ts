/**
 * `createReceiver`: everything `serve` does before listening — integrations (bundled plus an
 * optional directory), the configuration (a file, or the development set-up), the store and the
 * app — for the CLI, the demo and tests.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { removeStaleStaging, sqliteStagingPrefix } from '../store/bulk'
import { openStore, SQLITE_FILE, storeKind } from '../store/open'
import type { SegmentStore } from '../store/types'
import { buildApp } from './app'
import {
  bigSegmentFreshness,
  configuredEnvironments,
  DEFAULT_HEARTBEAT_MS,
  startHeartbeat
} from './big-segments'
import { type DataLock, lockDataDir } from './data-lock'
import {
  checkRedisPrefixes,
  type DevCredentials,
  devSetup,
  loadConfigFile,
  parseConfig,
  type ReceiverConfig
} from './config'
import { BUNDLED_INTEGRATIONS_DIR, type IntegrationDirectory, loadIntegrations } from './integrations'

export { buildApp, type BuildAppOptions } from './app'
export * from './config'

export interface ReceiverOptions {
  /** Data directory: the SQLite file and the development credentials live here (default `./data`). */
  dataDir?: string
  /** `sqlite` (default) or a `redis://` URL. */
  store?: string
  /** A directory of extra integrations that add to or replace the bundled ones. */
  integrationsDir?: string
  /** A §B6 configuration file; without one, the development set-up. */
  configFile?: string
  /** A configuration object instead of a file (tests, embedding); validated like a file. */
  config?: unknown
  logger?: boolean | object
  /**
   * On Redis, how often (ms) to refresh every environment's `<prefix>:big_segments_synchronized_on`
   * so SDKs stay HEALTHY between syncs (§C3); default 30,000, 0 turns the heartbeat off.
   */
  heartbeatMs?: number
}

export interface Receiver {
  app: FastifyInstance
  store: SegmentStore
  config: ReceiverConfig
  /** Keyed by lower-cased integration key; `skipped` holds those without syncedSegment. */
  integrations: IntegrationDirectory
  /** The development set-up's credentials; undefined when a configuration was given. */
  credentials: DevCredentials | undefined
  /** What the operator should know at start (e.g. a Redis without append-only persistence); `serve` prints them. */
  warnings: readonly string[]
  /** Closes the app (in-flight requests finish), then the store. */
  close(): Promise<void>
}

/** Start-up warnings a store may carry (the Redis store has them); none for the others. */
function storeWarnings(store: SegmentStore): readonly string[] {
  const warnings = (store as { warnings?: unknown }).warnings
  return Array.isArray(warnings) ? warnings.filter((w): w is string => typeof w === 'string') : []
}

export async function createReceiver(options: ReceiverOptions = {}): Promise<Receiver> {
  const dataDir = options.dataDir ?? './data'
  // The store's name, integrations and configuration first: a mistake in any stops the start before
  // the development set-up writes credentials or a store is opened.
  const storeSpec = options.store ?? 'sqlite'
  const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS
  if (!Number.isInteger(heartbeatMs) || heartbeatMs < 0)
    throw new Error(`heartbeatMs must be a whole number of milliseconds ≥ 0, got ${heartbeatMs}`)
  const kind = storeKind(storeSpec)
  const integrations = loadIntegrations(
    options.integrationsDir ? [BUNDLED_INTEGRATIONS_DIR, options.integrationsDir] : [BUNDLED_INTEGRATIONS_DIR]
  )
  let config: ReceiverConfig
  let credentials: DevCredentials | undefined
  if (options.config) config = parseConfig(options.config, 'config option')
  else if (options.configFile) config = loadConfigFile(options.configFile)
  else ({ config, credentials } = devSetup(dataDir))
  // On Redis every environment needs its own prefix: refused here, before Redis is contacted.
  if (kind === 'redis') {
    checkRedisPrefixes(
      config,
      options.config ? 'config option' : (options.configFile ?? 'development set-up')
    )
  }

  let lock: DataLock | undefined
  let store: SegmentStore
  try {
    // The store module creates the directory; the lock needs it first.
    if (kind === 'sqlite') mkdirSync(dataDir, { recursive: true, mode: 0o700 })
    lock = kind === 'sqlite' ? lockDataDir(dataDir) : undefined
    // Holding the lock, no other receiver imports here: staging files are a dead process's leftovers.
    if (lock) removeStaleStaging(sqliteStagingPrefix(join(dataDir, SQLITE_FILE)))
    store = await openStore(storeSpec, dataDir, { historyRetention: config.history?.retention })
  } catch (error) {
    lock?.release()
    throw error
  }
  const warnings = storeWarnings(store)
  const app = buildApp({ store, integrations, config, logger: options.logger })
  const freshness = bigSegmentFreshness(store)
  const heartbeat =
    freshness && heartbeatMs > 0
      ? startHeartbeat(freshness, configuredEnvironments(config), heartbeatMs)
      : undefined
  let closing: Promise<void> | undefined
  const close = (): Promise<void> => {
    closing ??= (async () => {
      try {
        await app.close()
      } finally {
        await heartbeat?.stop()
        try {
          await store.close()
        } finally {
          lock?.release()
        }
      }
    })()
    return closing
  }
  return { app, store, config, integrations, credentials, warnings, close }
}
