/**
 * A stand-in for LaunchDarkly's API: a loopback node:http server that reads each request, answers
 * 204 and counts the bytes that arrived (request line, headers and body, as on the wire). Run as a
 * process of its own (`node -r ts-node/register/transpile-only bench/sink.ts`) so serving it costs
 * the destination under test nothing; `GET /__stats` reads the counters.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

export interface SinkStats {
  requests: number
  /** Bytes read from the sockets: everything the client sent. */
  wireBytes: number
  bodyBytes: number
}

export const STATS_PATH = '/__stats'

export function createSink(): Server {
  const stats: SinkStats = { requests: 0, wireBytes: 0, bodyBytes: 0 }
  const sockets = new Set<Socket>()
  let closedSocketBytes = 0
  const server = createServer((request, response) => {
    if (request.url === STATS_PATH) {
      // A stats request comes on a connection of its own: leave that connection out of the count.
      sockets.delete(request.socket)
      let wireBytes = closedSocketBytes
      for (const socket of sockets) wireBytes += socket.bytesRead
      response
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ ...stats, wireBytes }))
      return
    }
    request.on('data', (chunk: Buffer) => {
      stats.bodyBytes += chunk.length
    })
    request.on('end', () => {
      stats.requests += 1
      response.writeHead(204).end()
    })
  })
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', () => {
      if (sockets.delete(socket)) closedSocketBytes += socket.bytesRead
    })
  })
  return server
}

if (require.main === module) {
  const server = createSink()
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`sink listening on http://127.0.0.1:${(server.address() as AddressInfo).port}\n`)
  })
  process.on('SIGTERM', () => process.exit(0))
}
