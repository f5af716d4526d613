/** nock set-up shared by the destination tests that answer with interceptors (kept apart from helpers.ts, which tests on real sockets import). */
import nock from 'nock'

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
