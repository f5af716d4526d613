/**
 * A receiver for the console tests: two environments, three tokens, and segments synced through
 * the real segment-targets endpoint — a plain one with a few hundred members and several syncs,
 * one whose every partner-controlled string is hostile, and rejected requests whose error messages
 * carry hostile text.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createReceiver, type Receiver } from '../../src/receiver/index'

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

async function sync(receiver: Receiver, integration: string, body: unknown): Promise<number> {
  const response = await receiver.app.inject({
    method: 'POST',
    url: `/api/v2/segment-targets/${integration}`,
    headers: { authorization: WRITER_TOKEN, 'content-type': 'application/json' },
    payload: JSON.stringify(body)
  })
  return response.statusCode
}

function engageBatch(
  cohortId: string,
  cohortName: string,
  keys: string[],
  value: boolean,
  environmentId = CLIENT_SIDE_ID
) {
  return {
    environmentId,
    contextKind: 'user',
    batch: keys.map((userId) => ({ userId, cohortId, cohortName, value }))
  }
}

const userKeys = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => `user-${String(from + i).padStart(4, '0')}`)

/** The receiver with its segments and history, on SQLite in a temporary directory. */
export async function startConsoleReceiver(): Promise<ConsoleReceiver> {
  const dataDir = mkdtempSync(join(tmpdir(), 'synced-segments-console-'))
  const receiver = await createReceiver({ dataDir, config: CONFIG, logger: false })
  const statuses = [
    await sync(
      receiver,
      'segment-audiences',
      engageBatch('aud_power', 'Power users', userKeys(0, 150), true)
    ),
    await sync(
      receiver,
      'segment-audiences',
      engageBatch('aud_power', 'Power users', userKeys(150, 260), true)
    ),
    await sync(
      receiver,
      'segment-audiences',
      engageBatch('aud_power', 'Power users', userKeys(0, 30), false)
    ),
    await sync(
      receiver,
      'segment-audiences',
      engageBatch('aud_trial', 'Trial accounts', userKeys(500, 512), true)
    ),
    await sync(receiver, 'amplitude', {
      environmentId: CLIENT_SIDE_ID,
      contextKind: 'user',
      batch: HOSTILE.members.map((userId) => ({
        userId,
        cohortId: HOSTILE.cohortId,
        cohortName: HOSTILE.name,
        cohortUrl: HOSTILE.link,
        value: true
      }))
    })
  ]
  if (statuses.some((s) => s !== 204))
    throw new Error(`seeding the console's receiver failed: ${statuses.join(', ')}`)
  // Rejected on purpose: the error message quotes the hostile client-side ID.
  const rejected = await sync(
    receiver,
    'segment-audiences',
    engageBatch('aud_power', 'Power users', ['user-x'], true, HOSTILE.environmentId)
  )
  if (rejected !== 400) throw new Error(`the hostile rejected sync answered ${rejected}`)
  return {
    receiver,
    dataDir,
    close: async () => {
      await receiver.close()
      rmSync(dataDir, { recursive: true, force: true })
    }
  }
}

export function hostileSegmentKey(receiver: Receiver): Promise<string> {
  return receiver.store
    .listSegments(
      { projectKey: PROJECT, environmentKey: ENVIRONMENT },
      { limit: 50, offset: 0, filter: { external: ['amplitude'] } }
    )
    .then((page) => {
      if (page.items.length !== 1) throw new Error('expected one amplitude segment')
      return page.items[0].key
    })
}
