import { InvalidEndpointError, LAUNCHDARKLY_ENDPOINTS, resolveEndpoints } from '../../src/destination/hosts'

describe('resolveEndpoints', () => {
  it("sends to LaunchDarkly's hosts without apiBaseUrl", () => {
    expect(resolveEndpoints({})).toEqual({
      api: 'https://app.launchdarkly.com',
      clientsdk: 'https://clientsdk.launchdarkly.com'
    })
    expect(resolveEndpoints({})).toBe(LAUNCHDARKLY_ENDPOINTS)
  })

  it('sends both the API calls and the client-side ID check to apiBaseUrl', () => {
    expect(resolveEndpoints({ apiBaseUrl: 'http://127.0.0.1:8787/' })).toEqual({
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
    expect(resolveEndpoints({ apiBaseUrl: ' ' }).api).toBe('https://app.launchdarkly.com')
  })

  it.each(['localhost:8787', '/relative', 'ftp://example.com', 'http://example.com/?x=1'])(
    'rejects apiBaseUrl %s',
    (apiBaseUrl) => {
      expect(() => resolveEndpoints({ apiBaseUrl })).toThrow(InvalidEndpointError)
      expect(() => resolveEndpoints({ apiBaseUrl })).toThrow(/apiBaseUrl/)
    }
  )
})
