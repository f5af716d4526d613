import { classifyFailure, classifyResponse } from '../../src/destination/syncAudience/send'

describe('classifyResponse', () => {
  it.each([200, 204])('%i is a success', (status) => {
    expect(classifyResponse(status, '')).toEqual({ ok: true, status, body: '' })
  })

  it.each([
    [401, 'auth'],
    [403, 'auth'],
    [408, 'retryable'],
    [429, 'retryable'],
    [500, 'retryable'],
    [503, 'retryable'],
    [400, 'rejected'],
    [404, 'rejected'],
    [409, 'rejected'],
    [413, 'rejected']
  ])('%i → %s', (status, failure) => {
    expect(classifyResponse(status, { code: 'x', message: 'y' })).toMatchObject({
      ok: false,
      status,
      failure
    })
  })

  it("carries the receiver's code and message", () => {
    const outcome = classifyResponse(409, { code: 'conflict', message: 'segment is of context kind user' })
    expect(outcome).toMatchObject({
      message: 'LaunchDarkly answered 409: conflict: segment is of context kind user'
    })
  })

  it('falls back to the body text, then to the status text', () => {
    expect(classifyResponse(502, '<html>bad gateway</html>\n')).toMatchObject({
      message: 'LaunchDarkly answered 502: <html>bad gateway</html>'
    })
    expect(classifyResponse(404, '')).toMatchObject({ message: 'LaunchDarkly answered 404: Not Found' })
  })
})

describe('classifyFailure', () => {
  it('treats a timeout as a retryable 408', () => {
    const timeout = Object.assign(new Error('Request timed out after 50ms'), {
      name: 'TimeoutError',
      code: 'ETIMEDOUT'
    })
    expect(classifyFailure(timeout)).toEqual({
      ok: false,
      status: 408,
      failure: 'retryable',
      message: 'LaunchDarkly did not answer in time: Request timed out after 50ms'
    })
  })

  it('treats a network error as a retryable 503', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })
    expect(classifyFailure(refused)).toMatchObject({
      status: 503,
      failure: 'retryable',
      message: expect.stringMatching(/ECONNREFUSED/)
    })
  })
})
