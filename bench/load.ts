/**
 * Load generation with autocannon: a fixed number of requests over keep-alive connections, each
 * request taking the next pre-built body, so no two requests repeat the same work.
 */
import autocannon from 'autocannon'
import { percentile } from './stats'

export interface LoadOptions {
  url: string
  connections: number
  /** Requests to send. */
  amount: number
  /** The n-th request to send (method, path, headers, body); called once per request. */
  request(n: number): autocannon.RequestParams
}

export interface LoadResult {
  requests: number
  /** From the start until the last response. */
  seconds: number
  latencyP50Ms: number
  latencyP99Ms: number
  latencyMaxMs: number
}

export function runLoad(options: LoadOptions): Promise<LoadResult> {
  let next = 0
  let lastResponseAt = 0
  // autocannon's own histogram has 1 ms resolution; its per-response times are exact (hrtime).
  const latencies: number[] = []
  const startedAt = performance.now()
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.url,
        connections: options.connections,
        amount: options.amount,
        timeout: 30,
        // autocannon notices the end only on its sampling tick (1 s by default): don't idle for it.
        sampleInt: 10,
        requests: [
          {
            setupRequest: (defaults) => {
              const request = options.request(next++)
              // autocannon writes Content-Length into the headers object it is given: never share one.
              return { ...defaults, ...request, headers: { ...request.headers } }
            }
          }
        ]
      },
      (error, result) => {
        if (error) return reject(error)
        // Every request must have succeeded, or the figure would be measuring error paths.
        if (result.errors > 0 || result.non2xx > 0) {
          return reject(
            new Error(
              `load against ${options.url}: ${result.errors} errors, statuses ${JSON.stringify(result.statusCodeStats)}`
            )
          )
        }
        latencies.sort((a, b) => a - b)
        resolve({
          requests: result['2xx'],
          seconds: (lastResponseAt - startedAt) / 1000,
          latencyP50Ms: percentile(latencies, 50),
          latencyP99Ms: percentile(latencies, 99),
          latencyMaxMs: latencies[latencies.length - 1]
        })
      }
    )
    instance.on('response', (_client: unknown, _status: number, _bytes: number, responseTimeMs: number) => {
      lastResponseAt = performance.now()
      latencies.push(responseTimeMs)
    })
  })
}
