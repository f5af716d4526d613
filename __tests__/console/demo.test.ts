/**
 * `demo` ends with the console's URL and how to sign in; with `--keep` the receiver goes on serving
 * it, and the printed token signs a person in.
 */
import { rmSync } from 'node:fs'
import { runDemo } from '../../src/cli/demo'

jest.setTimeout(120_000)

it('prints the console URL and token, and with keep serves the console until told to stop', async () => {
  let text = ''
  let stop: () => void = () => undefined
  const serveUntil = new Promise<void>((resolve) => (stop = resolve))
  let consoleUrl: string | undefined
  let run: Promise<number> | undefined
  const printed = new Promise<{ url: string; token: string }>((resolve) => {
    const out = {
      write(chunk: string) {
        text += chunk
        const match =
          /Console: (http:\/\/127\.0\.0\.1:\d+\/console\/) {2}\(sign in with the access token (\S+)\)/.exec(
            text
          )
        if (match && consoleUrl === undefined) {
          consoleUrl = match[1]
          resolve({ url: match[1], token: match[2] })
        }
        return true
      }
    }
    run = runDemo(out, { keep: true, serveUntil })
  })
  const { url, token } = await printed
  expect(text).toMatch(/serving until Ctrl-C/)

  const origin = new URL(url).origin
  const signIn = await fetch(`${url}sign-in`, {
    method: 'POST',
    redirect: 'manual',
    headers: { origin, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token, next: '/console/default/production/segments' })
  })
  expect(signIn.status).toBe(303)
  const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0]
  const page = await fetch(`${origin}/console/default/production/segments`, { headers: { cookie } })
  expect(page.status).toBe(200)
  expect(await page.text()).toContain('Power users')

  stop()
  expect(await run).toBe(0)
  const kept = /Data kept in (\S+)/.exec(text)?.[1]
  expect(kept).toBeDefined()
  rmSync(kept as string, { recursive: true, force: true })
})
