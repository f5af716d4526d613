/**
 * The dry run's stand-in for LaunchDarkly: a loopback HTTP server that reads each request and
 * answers 204. The destination runs unchanged against it, so a dry run shows the very requests
 * (URL path, headers, body) a real run would send.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface Sink {
  /** `http://127.0.0.1:<port>` */
  url: string
  close(): Promise<void>
}

export async function startSink(): Promise<Sink> {
  const server = createServer((request, response) => {
    request.resume()
    request.on('end', () => response.writeHead(204).end())
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        // Keep-alive sockets from the request client would otherwise hold close() open.
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}
