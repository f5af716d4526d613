/**
 * The code under test. `npm run bench` builds first and measures the compiled tree in `dist/` — the
 * code that ships. The smoke test passes `--from src` so it needs no build: the same modules are
 * then loaded from TypeScript through ts-node.
 */
import { join } from 'node:path'

export type CodeSource = 'dist' | 'src'

/** The package's public API (src/index.ts), typed from the sources whichever tree is loaded. */
export type SyncedSegments = typeof import('../src/index')

const ROOT = join(__dirname, '..')

export interface CodeUnderTest {
  source: CodeSource
  /** The package entry point, loaded from the chosen tree. */
  api: SyncedSegments
  /** `node` arguments that run the `synced-segments` command from the chosen tree. */
  cliArgs: string[]
}

export async function loadCode(source: CodeSource): Promise<CodeUnderTest> {
  const entry = source === 'dist' ? join(ROOT, 'dist', 'index.js') : join(ROOT, 'src', 'index.ts')
  const api = (await import(entry)) as SyncedSegments
  const cliArgs =
    source === 'dist'
      ? [join(ROOT, 'dist', 'cli', 'main.js')]
      : ['-r', 'ts-node/register/transpile-only', join(ROOT, 'src', 'cli', 'main.ts')]
  return { source, api, cliArgs }
}
