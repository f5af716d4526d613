import { InvalidEndpointError, resolveEndpoints } from '../../src/destination/endpoints'

describe('resolveEndpoints', () => {
  it.each([
    [undefined, 'https://app.launchdarkly.com', 'https://clientsdk.launchdarkly.com'],
    ['us', 'https://app.launchdarkly.com', 'https://clientsdk.launchdarkly.com'],
    ['eu', 'https://app.eu.launchdarkly.com', 'https://clientsdk.eu.launchdarkly.com'],
    ['federal', 'https://app.launchdarkly.us', 'https://clientsdk.launchdarkly.us']
  ])('instance %s → %s and %s', (instance, api, clientsdk) => {
    expect(resolveEndpoints({ instance })).toEqual({ api, clientsdk })
  })

  it('lets apiBaseUrl override the instance for both the API and the client-side ID check', () => {
    expect(resolveEndpoints({ instance: 'eu', apiBaseUrl: 'http://127.0.0.1:8787/' })).toEqual({
      api: 'http://127.0.0.1:8787',
      clientsdk: 'http://127.0.0.1:8787'
    })
  })

  it('keeps a path prefix without its trailing slashes', () => {
    expect(resolveEndpoints({ apiBaseUrl: 'https://proxy.example.com/ld//' }).api).toBe(
      'https://proxy.example.com/ld'
    )
  })

  it('treats an empty apiBaseUrl as unset', () => {
    expect(resolveEndpoints({ instance: 'federal', apiBaseUrl: ' ' }).api).toBe('https://app.launchdarkly.us')
  })

  it.each(['localhost:8787', '/relative', 'ftp://example.com', 'http://example.com/?x=1'])(
    'rejects apiBaseUrl %s',
    (apiBaseUrl) => {
      expect(() => resolveEndpoints({ apiBaseUrl })).toThrow(InvalidEndpointError)
      expect(() => resolveEndpoints({ apiBaseUrl })).toThrow(/apiBaseUrl/)
    }
  )

  it('rejects an unknown instance', () => {
    expect(() => resolveEndpoints({ instance: 'apac' })).toThrow(/instance must be one of us, eu, federal/)
  })
})
