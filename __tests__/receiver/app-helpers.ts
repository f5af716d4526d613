/**
 * Shared set-up of the receiver app tests: a real SQLite store in a temporary directory, the real
 * bundled integrations (plus optional extra ones), and a configuration with tokens of every scope.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { buildApp } from '../../src/receiver/app'
import { parseConfig } from '../../src/receiver/config'
import { BUNDLED_INTEGRATIONS_DIR, loadIntegrations } from '../../src/receiver/integrations'
import { openSqliteStore } from '../../src/store/sqlite'
import type { EnvironmentRef, SegmentStore } from '../../src/store/types'

export const PROD_ID = 'client-prod-0001'
export const STAGING_ID = 'client-staging-0001'
export const OTHER_ID = 'client-other-0001'
export const PROD: EnvironmentRef = { projectKey: 'acme', environmentKey: 'production' }
export const STAGING: EnvironmentRef = { projectKey: 'acme', environmentKey: 'staging' }
export const OTHER: EnvironmentRef = { projectKey: 'other', environmentKey: 'test' }

export const TOKENS = {
  writer: 'writer-token-0001',
  /** May update and read production, but not create segments. */
  updater: 'updater-token-0001',
  /** May only read production. */
  reader: 'reader-token-0001',
  /** May create and update in staging only. */
  stagingWriter: 'staging-writer-0001',
  /** May only delete in production. */
  deleter: 'deleter-token-0001',
  /** May edit excluded targets and read in production, nothing else. */
  excluder: 'excluder-token-0001'
}

export function testConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    projects: [
      {
        key: 'acme',
        environments: [
          { key: 'production', clientSideId: PROD_ID },
          { key: 'staging', clientSideId: STAGING_ID }
        ]
      },
      { key: 'other', environments: [{ key: 'test', clientSideId: OTHER_ID }] }
    ],
    tokens: [
      { name: 'writer', token: TOKENS.writer, actions: '*', environments: '*' },
      { name: 'updater', token: TOKENS.updater, actions: ['updateIncluded', 'viewProject'], environments: ['acme/production'] },
      { name: 'reader', token: TOKENS.reader, actions: ['viewProject'], environments: ['acme/production'] },
      { name: 'staging-writer', token: TOKENS.stagingWriter, actions: ['createSegment', 'updateIncluded'], environments: ['acme/staging'] },
      { name: 'deleter', token: TOKENS.deleter, actions: ['deleteSegment'], environments: ['acme/production'] },
      { name: 'excluder', token: TOKENS.excluder, actions: ['updateExcluded', 'viewProject'], environments: ['acme/production'] }
    ],
    ...extra
  }
}

export interface TestApp {
  app: FastifyInstance
  store: SegmentStore
  dir: string
  close(): Promise<void>
}

/** A stream to hand the app's logger, and what has been written to it so far. */
export function captureLog(): { stream: Writable; log: () => string } {
  let log = ''
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      log += chunk.toString()
      done()
    }
  })
  return { stream, log: () => log }
}

export function tempDir(prefix = 'receiver-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix))
}

/** Writes `<dir>/<key>/manifest.json` for each capability and returns `dir`. */
export function writeIntegrations(capabilities: Record<string, object>): string {
  const dir = tempDir('integrations-')
  for (const [key, capability] of Object.entries(capabilities)) {
    mkdirSync(join(dir, key))
    writeFileSync(join(dir, key, 'manifest.json'), JSON.stringify({ name: key, capabilities: { syncedSegment: capability } }))
  }
  return dir
}

export function makeApp(options: { config?: Record<string, unknown>; integrationsDir?: string; wrapStore?: (s: SegmentStore) => SegmentStore } = {}): TestApp {
  const dir = tempDir()
  const sqlite = openSqliteStore({ path: join(dir, 'segments.db') })
  const store = options.wrapStore ? options.wrapStore(sqlite) : sqlite
  const dirs = options.integrationsDir ? [BUNDLED_INTEGRATIONS_DIR, options.integrationsDir] : [BUNDLED_INTEGRATIONS_DIR]
  const app = buildApp({ store, integrations: loadIntegrations(dirs), config: parseConfig(options.config ?? testConfig()) })
  return {
    app,
    store,
    dir,
    close: async () => {
      await app.close()
      await sqlite.close()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

export function sync(
  app: FastifyInstance,
  integrationKey: string,
  body: unknown,
  options: { token?: string | null; contentType?: string | null; raw?: string | Buffer; singular?: boolean } = {}
): Promise<LightMyRequestResponse> {
  const headers: Record<string, string> = {}
  const token = options.token === undefined ? TOKENS.writer : options.token
  if (token !== null) headers.authorization = token
  const contentType = options.contentType === undefined ? 'application/json' : options.contentType
  if (contentType !== null) headers['content-type'] = contentType
  return app.inject({
    method: 'POST',
    url: `/api/v2/${options.singular ? 'segment-target' : 'segment-targets'}/${integrationKey}`,
    headers,
    payload: options.raw ?? JSON.stringify(body)
  })
}

export function get(app: FastifyInstance, url: string, token: string | null = TOKENS.writer): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'GET', url, headers: token === null ? {} : { authorization: token } })
}

/** A segment-audiences (boolean mode) body, as the destination sends it. */
export function audienceBody(
  members: { userId: string; cohortId?: string; value: boolean }[],
  options: { environmentId?: string; contextKind?: string; cohortName?: string } = {}
): Record<string, unknown> {
  return {
    environmentId: options.environmentId ?? PROD_ID,
    contextKind: options.contextKind ?? 'user',
    batch: members.map((m) => ({
      userId: m.userId,
      cohortId: m.cohortId ?? 'aud-1',
      cohortName: options.cohortName ?? `Audience ${m.cohortId ?? 'aud-1'}`,
      value: m.value
    }))
  }
}

/** Every segment and member of the given environments, straight from the store. */
export async function snapshot(store: SegmentStore, envs: EnvironmentRef[] = [PROD, STAGING, OTHER]): Promise<unknown> {
  const state: Record<string, unknown> = {}
  for (const env of envs) {
    const page = await store.listSegments(env, { limit: 1000, offset: 0 })
    for (const segment of page.items) {
      const members: string[] = []
      for await (const key of store.members(env, segment.key, {})) members.push(key)
      state[`${env.projectKey}/${env.environmentKey}/${segment.key}`] = { segment, members }
    }
  }
  return state
}

/** The request id an error body carries: a UUID. */
export const REQUEST_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** LaunchDarkly's JSON error body: `{code, message, id}` under a JSON content type, no stack, no HTML. */
export function expectJsonError(response: LightMyRequestResponse, status: number, code?: string): { code: string; message: string; id: string } {
  expect(response.statusCode).toBe(status)
  expect(response.headers['content-type']).toMatch(/^application\/json/)
  expect(response.body).not.toMatch(/<html|<!DOCTYPE|\n\s+at /i)
  const body = response.json<{ code: string; message: string; id: string }>()
  expect(Object.keys(body).sort()).toEqual(['code', 'id', 'message'])
  expect(body.id).toMatch(REQUEST_ID)
  if (code !== undefined) expect(body.code).toBe(code)
  expect(typeof body.message).toBe('string')
  return body
}
