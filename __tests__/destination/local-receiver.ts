/**
 * A small stand-in for LaunchDarkly on 127.0.0.1 (a real socket, no nock), speaking just enough of
 * §B3/§B5 for the destination: the client-side ID check, the token check and segment-audiences.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { SegmentAudiencesBody } from '../../src/destination/syncAudience/requests'

export interface LocalReceiver {
  baseUrl: string
  /** Every segment-audiences request, in arrival order; raw: the header lines and body as sent. */
  received: Array<{
    headers: IncomingHttpHeaders
    body: SegmentAudiencesBody
    rawHeaders: string[]
    rawBody: string
  }>
  /** Every client-side-ID and token check, in arrival order. */
  checks: Array<{ method: string; path: string; rawHeaders: string[] }>
  /** `<contextKind>/<cohortId>` → included context keys. */
  segments: Map<string, Set<string>>
  peakInFlight: () => number
  /** Answer this status and error body for requests touching the cohort, instead of applying them. */
  failCohort: (cohortId: string, status: number, code: string, message: string) => void
  close: () => Promise<void>
}

export async function startLocalReceiver(options: {
  token: string
  clientId: string
  delayMs?: number
}): Promise<LocalReceiver> {
  const received: LocalReceiver['received'] = []
  const checks: LocalReceiver['checks'] = []
  const segments = new Map<string, Set<string>>()
  const failures = new Map<string, { status: number; code: string; message: string }>()
  let inFlight = 0
  let peak = 0

  const server: Server = createServer((req, res) => {
    const answer = (status: number, body?: object) => {
      res.writeHead(status, body ? { 'content-type': 'application/json' } : {})
      res.end(body ? JSON.stringify(body) : undefined)
    }
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (url.pathname.startsWith('/sdk/goals/') || url.pathname === '/api/v2/versions') {
      checks.push({ method: req.method ?? '', path: url.pathname, rawHeaders: req.rawHeaders })
    }
    if ((req.method === 'HEAD' || req.method === 'GET') && url.pathname.startsWith('/sdk/goals/')) {
      return answer(
        decodeURIComponent(url.pathname.slice('/sdk/goals/'.length)) === options.clientId ? 200 : 404
      )
    }
    if (req.method === 'GET' && url.pathname === '/api/v2/versions') {
      return req.headers.authorization === options.token
        ? answer(200, { validVersions: [20240415], latestVersion: 20240415 })
        : answer(401, { code: 'unauthorized', message: 'Invalid access token' })
    }
    if (req.method === 'POST' && url.pathname === '/api/v2/segment-targets/segment-audiences') {
      inFlight++
      peak = Math.max(peak, inFlight)
      const chunks: Buffer[] = []
      req.on('data', (chunk: Buffer) => chunks.push(chunk))
      req.on('end', () => {
        setTimeout(() => {
          inFlight--
          if (req.headers.authorization !== options.token) {
            return answer(403, { code: 'forbidden', message: 'Invalid access token' })
          }
          const rawBody = Buffer.concat(chunks).toString('utf8')
          const body = JSON.parse(rawBody) as SegmentAudiencesBody
          received.push({ headers: req.headers, body, rawHeaders: req.rawHeaders, rawBody })
          if (body.environmentId !== options.clientId) {
            return answer(400, {
              code: 'invalid_request',
              message: `unknown environment ${body.environmentId}`
            })
          }
          const failure = body.batch.map((m) => failures.get(m.cohortId)).find(Boolean)
          if (failure) return answer(failure.status, { code: failure.code, message: failure.message })
          for (const member of body.batch) {
            const key = `${body.contextKind}/${member.cohortId}`
            const included = segments.get(key) ?? new Set<string>()
            if (member.value) included.add(member.userId)
            else included.delete(member.userId)
            segments.set(key, included)
          }
          answer(204)
        }, options.delayMs ?? 0)
      })
      return
    }
    answer(404, { code: 'not_found', message: `no route ${req.method} ${url.pathname}` })
  })

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    received,
    checks,
    segments,
    peakInFlight: () => peak,
    failCohort: (cohortId, status, code, message) => failures.set(cohortId, { status, code, message }),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections()
        server.close((error) => (error ? reject(error) : resolve()))
      })
  }
}
