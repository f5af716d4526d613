// The part of autocannon 9's API the benchmark uses (the package ships no types).
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events'

  namespace autocannon {
    interface RequestParams {
      method?: string
      path?: string
      headers?: Record<string, string>
      body?: string | Buffer
    }
    interface Request extends RequestParams {
      /** Called before each request; returns the request to send. */
      setupRequest?: (request: RequestParams) => RequestParams
    }
    interface Options {
      url: string
      connections?: number
      amount?: number
      duration?: number
      timeout?: number
      /** Milliseconds between samples; the run's end is only noticed on a sample. */
      sampleInt?: number
      requests?: Request[]
    }
    interface Result {
      errors: number
      timeouts: number
      non2xx: number
      '2xx': number
      statusCodeStats: Record<string, { count: number }>
    }
    interface Instance extends EventEmitter {
      stop(): void
    }
  }

  function autocannon(
    options: autocannon.Options,
    callback: (error: Error | null, result: autocannon.Result) => void
  ): autocannon.Instance
  export = autocannon
}
