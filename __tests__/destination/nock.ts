/** nock set-up shared by the destination tests that answer with interceptors (kept apart from helpers.ts, which tests on real sockets import). */
import nock from 'nock'
import { USER_AGENT } from '../../src/destination'
import { API, stableHeaders, TARGET_PATH, type CapturedRequest } from './helpers'

/**
 * nock for the test file that calls it (at its top level): no connection leaves the machine except
 * to `allowHost`; after each test every interceptor is removed, and with `requireAllUsed` a test
 * fails when one it set up was never called.
 */
export function useNock({ allowHost, requireAllUsed = false }: { allowHost?: string; requireAllUsed?: boolean } = {}): void {
  beforeAll(() => {
    nock.disableNetConnect()
    if (allowHost !== undefined) nock.enableNetConnect(allowHost)
  })
  afterEach(() => {
    const pending = nock.pendingMocks()
    nock.cleanAll()
    if (requireAllUsed) expect(pending).toEqual([])
  })
  afterAll(() => {
    nock.enableNetConnect()
    nock.restore()
  })
}

/**
 * Answers 204 to every segment-audiences POST (until the test ends) and records it, checking that
 * each carries Segment's User-Agent.
 */
export function recordSegmentAudiences(): CapturedRequest[] {
  const captured: CapturedRequest[] = []
  nock(API)
    .persist()
    .post(TARGET_PATH)
    .reply(function (uri, body) {
      const headers = stableHeaders(this.req.headers)
      expect(headers['user-agent']).toBe(USER_AGENT)
      captured.push({ method: 'POST', path: uri, headers, body })
      return [204]
    })
  return captured
}
