/**
 * A loopback HTTP server that records what it receives and answers as a test tells it to: the
 * other end of the destination in tests that are about the replay, not the receiver.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface Received {
  method: string
  url: string
  headers: IncomingHttpHeaders
  body: unknown
  receivedAt: number
  answeredAt?: number
}

export interface Answer {
  status: number
  body?: unknown
  delayMs?: number
}

export interface Recorder {
  url: string
  received: Received[]
  close(): Promise<void>
}

export async function startRecorder(answer: (request: Received, index: number) => Answer = () => ({ status: 204 })): Promise<Recorder> {
  const received: Received[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8')
      let body: unknown = text
      try {
        body = JSON.parse(text)
      } catch {
        // keep the text
      }
      const request: Received = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, receivedAt: Date.now() }
      const index = received.push(request) - 1
      const { status, body: responseBody, delayMs = 0 } = answer(request, index)
      setTimeout(() => {
        request.answeredAt = Date.now()
        if (responseBody === undefined) res.writeHead(status).end()
        else res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(responseBody))
      }, delayMs)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}
