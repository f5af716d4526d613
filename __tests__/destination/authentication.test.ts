import nock from 'nock'
import { Destination } from '@segment/actions-core'
import definition from '../../src/destination'
import type { Settings } from '../../src/destination/generated-types'
import { API, CLIENTSDK, refusingBaseUrl, settings } from './helpers'
import { useNock } from './nock'

const destination = new Destination<Settings>(definition)
const GOALS = `/sdk/goals/${settings.clientId}`

// 127.0.0.1: a real refused connection, rather than nock's replyWithError, whose socket can emit its
// error again after the request is done and crash the test process.
useNock({ allowHost: '127.0.0.1', requireAllUsed: true })

function answer(clientIdStatus: number, tokenStatus: number, api = API, clientsdk = CLIENTSDK): void {
  nock(clientsdk).head(GOALS).reply(clientIdStatus)
  nock(api)
    .get('/api/v2/versions')
    .matchHeader('authorization', settings.apiKey)
    .matchHeader('ld-api-version', '20240415')
    .reply(
      tokenStatus,
      tokenStatus === 200 ? { validVersions: [20240415], latestVersion: 20240415 } : { code: 'unauthorized' }
    )
}

describe('testAuthentication', () => {
  it('passes when the client-side ID exists and the token is accepted', async () => {
    answer(200, 200)
    await expect(destination.testAuthentication(settings)).resolves.toBeUndefined()
  })

  it('names clientId when no environment has that client-side ID', async () => {
    answer(404, 200)
    const error = await destination.testAuthentication(settings).catch((e: Error) => e)
    expect(error).toBeInstanceOf(Error)
    expect((error as Error).message).toMatch(
      /clientId: no LaunchDarkly environment has the client-side ID "client-side-id-123"/
    )
    expect((error as Error).message).not.toMatch(/apiKey/)
  })

  it.each([401, 403])('names apiKey when the token is refused with %i', async (status) => {
    answer(200, status)
    const error = await destination.testAuthentication(settings).catch((e: Error) => e)
    expect((error as Error).message).toMatch(
      new RegExp(`apiKey: LaunchDarkly rejected the service token \\(${status}\\)`)
    )
    expect((error as Error).message).not.toMatch(/clientId/)
  })

  it('names both settings when both are wrong', async () => {
    answer(404, 401)
    const error = await destination.testAuthentication(settings).catch((e: Error) => e)
    expect((error as Error).message).toMatch(
      /clientId: no LaunchDarkly environment .*; apiKey: LaunchDarkly rejected the service token \(401\)/
    )
  })

  it('says a setting could not be checked rather than blaming it for a server error', async () => {
    answer(200, 503)
    const error = await destination.testAuthentication(settings).catch((e: Error) => e)
    expect((error as Error).message).toMatch(
      /apiKey: could not be checked, GET https:\/\/app.launchdarkly.com\/api\/v2\/versions answered 503/
    )
  })

  it('checks both against apiBaseUrl when it is set', async () => {
    answer(200, 200, 'https://receiver.example.com', 'https://receiver.example.com')
    await expect(
      destination.testAuthentication({
        ...settings,
        apiBaseUrl: 'https://receiver.example.com/'
      })
    ).resolves.toBeUndefined()
  })

  it('names apiBaseUrl when its host cannot be reached', async () => {
    const unreachable = await refusingBaseUrl()
    const error = await destination
      .testAuthentication({ ...settings, apiBaseUrl: unreachable })
      .catch((e: Error) => e)
    expect((error as Error).message).toContain(`apiBaseUrl: could not reach ${unreachable}/sdk/goals/`)
    expect((error as Error).message).toMatch(/; apiBaseUrl: could not reach .*ECONNREFUSED/)
  })

  it('refuses an apiBaseUrl that is a URI but not http(s), before any request', async () => {
    const error = await destination
      .testAuthentication({ ...settings, apiBaseUrl: 'ftp://example.com' })
      .catch((e: Error) => e)
    expect((error as Error).message).toMatch(/apiBaseUrl must be an absolute http\(s\) URL/)
  })

  it('rejects an apiBaseUrl that is not a URI in settings validation', async () => {
    const error = await destination
      .testAuthentication({ ...settings, apiBaseUrl: 'not a url' })
      .catch((e: Error) => e)
    expect((error as Error).message).toMatch(/API base URL must be a valid URI/)
  })

  it('rejects settings without a service token before any request', async () => {
    const error = await destination
      .testAuthentication({ clientId: settings.clientId } as Settings)
      .catch((e: Error) => e)
    expect((error as Error).message).toMatch(/apiKey/)
  })
})
