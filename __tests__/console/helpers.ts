/**
 * A receiver for the console tests: two environments, three tokens, and segments with their sync
 * history — a plain one with a few hundred members and several syncs, one whose every
 * partner-controlled string is hostile, and a rejected request whose error message carries hostile
 * text.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createReceiver, type Receiver } from '../../src/receiver/index'
import { segmentKeyFor } from '../../src/receiver/segment-key'

export const PROJECT = 'shop'
export const ENVIRONMENT = 'production'
export const CLIENT_SIDE_ID = 'cs-shop-production'
export const ADMIN_TOKEN = 'api-console-admin-0001'
export const READER_TOKEN = 'api-console-reader-0001'
export const WRITER_TOKEN = 'api-console-writer-0001'

export const POWER_USERS = 'segment-audiences-aud_power'
export const POWER_USERS_SIZE = 230

/** Markup and script in every string a partner controls; none of it may ever run or load. */
export const HOSTILE = {
  name: `<img src="http://evil.invalid/name.png" onerror="alert('name')">Hostile <script>alert('name')</script>`,
  cohortId: `"><script>alert('cohort')</script>`,
  link: `javascript:alert('link')`,
  members: [
    `<script>alert('member')</script>`,
    `"><img src=http://evil.invalid/member.png onerror=alert('member')>`,
    `{{constructor.constructor('alert(1)')()}}`,
    `<%= process.exit() %>`
  ],
  environmentId: `<svg onload="alert('error')"><image href="http://evil.invalid/error.png"/></svg>`
}

export const CONFIG = {
  projects: [
    {
      key: PROJECT,
      environments: [
        { key: ENVIRONMENT, clientSideId: CLIENT_SIDE_ID },
        { key: 'staging', clientSideId: 'cs-shop-staging' }
      ]
    }
  ],
  tokens: [
    { name: 'admin', token: ADMIN_TOKEN, actions: '*', environments: '*' },
    {
      name: 'reader',
      token: READER_TOKEN,
      actions: ['viewProject'],
      environments: [`${PROJECT}/${ENVIRONMENT}`]
    },
    {
      name: 'segment-writer',
      token: WRITER_TOKEN,
      actions: ['createSegment', 'updateIncluded'],
      environments: [`${PROJECT}/${ENVIRONMENT}`]
    }
  ]
}

export interface ConsoleReceiver {
  receiver: Receiver
  dataDir: string
  close(): Promise<void>
}

export const ENV_REF = { projectKey: PROJECT, environmentKey: ENVIRONMENT }

const userKeys = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => `user-${String(from + i).padStart(4, '0')}`)

const DAY = 24 * 60 * 60 * 1000
const START = Date.UTC(2026, 10, 20, 9, 30)

/**
 * Syncs as the segment-targets route applies them: through the store, each with the record of its
 * request, at times a day apart.
 */
async function seed(receiver: Receiver): Promise<void> {
  let step = 0
  const sync = async (
    integrationKey: string,
    cohortId: string,
    name: string,
    keys: string[],
    included: boolean,
    externalLink?: string
  ) => {
    const time = START + step * DAY
    step += 1
    await receiver.store.apply(
      ENV_REF,
      [
        {
          segmentKey: segmentKeyFor(integrationKey, cohortId),
          name,
          contextKind: 'user',
          integrationKey,
          externalLink,
          ops: keys.map((contextKey) => ({ contextKey, included }))
        }
      ],
      {
        allowCreate: true,
        now: time,
        record: {
          requestId: `req-${step}`,
          time,
          operation: 'segment-targets',
          integration: integrationKey,
          tokenName: 'segment-writer',
          statusCode: 204
        }
      }
    )
  }
  await sync('segment-audiences', 'aud_power', 'Power users', userKeys(0, 150), true)
  await sync('segment-audiences', 'aud_power', 'Power users', userKeys(150, 260), true)
  await sync('segment-audiences', 'aud_power', 'Power users', userKeys(0, 30), false)
  await sync('segment-audiences', 'aud_power', 'Power users', userKeys(200, 230), true)
  await sync('segment-audiences', 'aud_trial', 'Trial accounts', userKeys(500, 512), true)
  await sync('amplitude', HOSTILE.cohortId, HOSTILE.name, HOSTILE.members, true, HOSTILE.link)
  // A rejected request whose message quotes what the partner sent.
  await receiver.store.recordSync(ENV_REF, {
    requestId: 'req-rejected',
    time: START + step * DAY,
    operation: 'segment-targets',
    integration: 'segment-audiences',
    tokenName: 'segment-writer',
    ...ENV_REF,
    segments: [],
    members: 0,
    status: 'error',
    statusCode: 400,
    error: {
      code: 'unknown_environment',
      message: `unknown environment: no environment has the client-side ID ${JSON.stringify(HOSTILE.environmentId)}`
    },
    durationMs: 1
  })
}

/** The receiver with its segments and history, on SQLite in a temporary directory. */
export async function startConsoleReceiver(
  options: { logger?: object; integrationsDir?: string } = {}
): Promise<ConsoleReceiver> {
  const dataDir = mkdtempSync(join(tmpdir(), 'synced-segments-console-'))
  const receiver = await createReceiver({
    dataDir,
    config: CONFIG,
    logger: options.logger ?? false,
    integrationsDir: options.integrationsDir
  })
  await seed(receiver)
  return {
    receiver,
    dataDir,
    close: async () => {
      await receiver.close()
      rmSync(dataDir, { recursive: true, force: true })
    }
  }
}

export const HOSTILE_SEGMENT = segmentKeyFor('amplitude', HOSTILE.cohortId)
