/**
 * LaunchDarkly's own server-side SDK for the Redis interop tests: flag data from the SDK's file data
 * source (a rule matching one synced segment), membership from its RedisBigSegmentStore on the
 * test's Redis. Shared by `__tests__/store/redis-sdk-interop.test.ts` (the store alone) and
 * `__tests__/receiver/redis-sdk-receiver.test.ts` (through the receiver's HTTP API).
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import * as ld from '@launchdarkly/node-server-sdk'
import { RedisBigSegmentStore } from '@launchdarkly/node-server-sdk-redis'

export const FLAG = 'show-beta'

/**
 * Flag data as LaunchDarkly would serve it: a rule matching the synced (unbounded) segment
 * `segmentKey` at `generation`, written to `<dir>/flags-g<generation>.json`; returns the path.
 * `segmentRules` are the segment's own targeting rules (LaunchDarkly's segment rule format), which
 * the SDK consults for contexts neither included nor excluded.
 */
export function writeFlagData(
  dir: string,
  segmentKey: string,
  generation: number,
  segmentRules: object[] = []
): string {
  const path = join(dir, `flags-g${generation}.json`)
  const data = {
    flags: {
      [FLAG]: {
        key: FLAG,
        version: 1,
        on: true,
        variations: [false, true],
        offVariation: 0,
        fallthrough: { variation: 0 },
        rules: [
          {
            id: 'in-synced-segment',
            variation: 1,
            clauses: [{ attribute: 'key', op: 'segmentMatch', values: [segmentKey], negate: false }]
          }
        ],
        salt: 'salt'
      }
    },
    segments: {
      [segmentKey]: {
        key: segmentKey,
        version: generation,
        unbounded: true,
        unboundedContextKind: 'user',
        generation,
        included: [],
        excluded: [],
        rules: segmentRules,
        salt: 'salt'
      }
    }
  }
  writeFileSync(path, JSON.stringify(data))
  return path
}

export interface SdkClientOptions {
  flagFile: string
  /** Receives every error and warning the SDK logs. */
  errors: string[]
  redisPort: number
  /** The environment's Redis prefix. */
  prefix: string | undefined
  bigSegments?: Omit<ld.LDBigSegmentsOptions, 'store'>
}

/** An initialised SDK client reading flags from `flagFile` and big segments from Redis at `redisPort`. */
export async function sdkClient({ flagFile, errors, redisPort, prefix, bigSegments = {} }: SdkClientOptions): Promise<ld.LDClient> {
  const record = (...args: unknown[]): void => {
    errors.push(args.map(String).join(' '))
  }
  const client = ld.init('sdk-key-never-sent', {
    updateProcessor: new ld.integrations.FileDataSourceFactory({ paths: [flagFile] }).getFactory(),
    sendEvents: false,
    diagnosticOptOut: true,
    bigSegments: {
      store: RedisBigSegmentStore({ redisOpts: { host: '127.0.0.1', port: redisPort }, prefix }),
      // Membership is cached per context key; keep it short so a removal is visible within the test.
      userCacheTime: 0.01,
      ...bigSegments
    },
    logger: { error: record, warn: record, info: () => undefined, debug: () => undefined }
  })
  await client.waitForInitialization({ timeout: 10 })
  return client
}

/** FLAG for the user context `key`, with the reason (and its bigSegmentsStatus). */
export function evaluate(client: ld.LDClient, key: string): Promise<ld.LDEvaluationDetail> {
  return client.variationDetail(FLAG, { kind: 'user', key }, 'default')
}
