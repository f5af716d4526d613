import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  BUNDLED_INTEGRATIONS_DIR,
  IntegrationError,
  loadIntegrations,
  validateIntegrations,
  validateIntegrationsDir,
  type RequestParser
} from '../../src/receiver/integrations'

const BUNDLED_KEYS = [
  'amplitude',
  'census-synced-segments',
  'example-synced-segment-integration1',
  'example-synced-segment-integration2',
  'fulcrum',
  'heap-inbound',
  'hightouch',
  'rudderstack',
  'segment-audiences',
  'sumatra-synced-segments',
  'tealium-synced-segments',
  'zeotap'
]

let root: string
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'integrations-'))
})
afterEach(() => {
  rmSync(root, { recursive: true, force: true })
})

/** Writes `<root>/<sub>/<key>/manifest.json` with the icons CI_FIELDS name, and returns `<root>/<sub>`. */
function writeManifest(key: string, manifest: unknown, sub = 'dir'): string {
  const dir = join(root, sub)
  mkdirSync(join(dir, key, 'assets'), { recursive: true })
  writeFileSync(
    join(dir, key, 'manifest.json'),
    typeof manifest === 'string' ? manifest : JSON.stringify(manifest)
  )
  for (const icon of ['square.svg', 'horizontal.svg'])
    writeFileSync(join(dir, key, 'assets', icon), '<svg xmlns="http://www.w3.org/2000/svg"/>')
  return dir
}

/** What LaunchDarkly's manifest schema requires of every manifest besides its capabilities. */
const CI_FIELDS = {
  name: 'Test',
  version: '1.0.0',
  overview: 'A test integration for synced segments.',
  description: 'A test integration that syncs cohorts from a test CDP into LaunchDarkly segments.',
  author: 'Test author',
  supportEmail: 'support@example.com',
  links: { site: 'https://example.com', privacyPolicy: 'https://example.com/privacy' },
  categories: ['synced-segments'],
  icons: { square: 'assets/square.svg', horizontal: 'assets/horizontal.svg' }
}

const booleanParser: RequestParser = {
  environmentIdPath: '/environmentId',
  cohortIdPath: '/cohortId',
  cohortNamePath: '/cohortName',
  memberArrayPath: '/batch',
  memberArrayParser: { memberIdPath: '/userId', booleanMembershipPath: '/value' }
}

function manifestWith(requestParser: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return { ...CI_FIELDS, capabilities: { syncedSegment: { requestParser, ...extra } } }
}

describe('bundled integrations', () => {
  it('all twelve load, keyed by directory name', () => {
    const integrations = loadIntegrations([BUNDLED_INTEGRATIONS_DIR])
    expect([...integrations.keys()].sort()).toEqual(BUNDLED_KEYS)
    expect(validateIntegrationsDir(BUNDLED_INTEGRATIONS_DIR)).toEqual([])
  })

  it('BUNDLED_INTEGRATIONS_DIR is the repo integrations/ directory', () => {
    const entries = readdirSync(BUNDLED_INTEGRATIONS_DIR, { withFileTypes: true })
    expect(
      entries
        .filter((e) => e.isDirectory())
        .map((e) => e.name)
        .sort()
    ).toEqual(BUNDLED_KEYS)
    // LaunchDarkly's Apache-2.0 notice travels with its manifests.
    expect(
      entries
        .filter((e) => e.isFile())
        .map((e) => e.name)
        .sort()
    ).toEqual(['LICENSE', 'NOTICE'])
  })

  it('compiles each into the membership mode its manifest describes', () => {
    const integrations = loadIntegrations([BUNDLED_INTEGRATIONS_DIR])
    const modes = Object.fromEntries([...integrations].map(([key, i]) => [key, i.parser.mode.kind]))
    expect(modes).toEqual({
      amplitude: 'boolean',
      'census-synced-segments': 'boolean',
      'example-synced-segment-integration1': 'addRemove',
      'example-synced-segment-integration2': 'inclusion',
      fulcrum: 'addRemove',
      'heap-inbound': 'addRemove',
      hightouch: 'inclusion',
      rudderstack: 'addRemove',
      'segment-audiences': 'boolean',
      'sumatra-synced-segments': 'addRemove',
      'tealium-synced-segments': 'inclusion',
      zeotap: 'inclusion'
    })
  })

  it('keeps name, manifest path and capability, and compiles jsonResponseBody only where present', () => {
    const integrations = loadIntegrations([BUNDLED_INTEGRATIONS_DIR])
    const heap = integrations.get('heap-inbound')
    expect(heap?.name).toBe('Heap Segments')
    expect(heap?.manifestPath).toBe(join(BUNDLED_INTEGRATIONS_DIR, 'heap-inbound', 'manifest.json'))
    expect(heap?.capability.requestParser.addMemberArrayPath).toBe('/heap/data/add')
    expect(typeof heap?.responseTemplate).toBe('function')
    expect(integrations.get('amplitude')?.responseTemplate).toBeUndefined()
  })
})

describe('loadIntegrations: directories', () => {
  it('lower-cases the directory name into the key', () => {
    const dir = writeManifest('My-Partner', manifestWith({ ...booleanParser }))
    const integrations = loadIntegrations([dir])
    expect([...integrations.keys()]).toEqual(['my-partner'])
    expect(integrations.get('my-partner')?.key).toBe('my-partner')
  })

  it('a later directory adds integrations and replaces those with the same key', () => {
    const replaced = writeManifest(
      'Amplitude',
      { ...manifestWith({ ...booleanParser }), name: 'My Amplitude' },
      'extra'
    )
    writeManifest('newcomer', manifestWith({ ...booleanParser }), 'extra')
    const integrations = loadIntegrations([BUNDLED_INTEGRATIONS_DIR, replaced])
    expect(integrations.size).toBe(13)
    expect(integrations.get('amplitude')?.name).toBe('My Amplitude')
    expect(integrations.get('amplitude')?.manifestPath).toBe(join(replaced, 'Amplitude', 'manifest.json'))
    expect(integrations.get('newcomer')?.name).toBe('Test')
  })

  it('uses the key as name when the manifest has none', () => {
    const dir = writeManifest('nameless', {
      capabilities: { syncedSegment: { requestParser: booleanParser } }
    })
    expect(loadIntegrations([dir]).get('nameless')?.name).toBe('nameless')
  })

  it('ignores plain files and dot-directories', () => {
    const dir = writeManifest('ok', manifestWith({ ...booleanParser }))
    writeFileSync(join(dir, 'README.md'), '# notes')
    mkdirSync(join(dir, '.git'))
    expect([...loadIntegrations([dir]).keys()]).toEqual(['ok'])
  })

  it('an empty directory holds no integrations', () => {
    mkdirSync(join(root, 'empty'))
    expect(loadIntegrations([join(root, 'empty')]).size).toBe(0)
  })
})

type Case = [rule: string, manifest: unknown, messagePart: string]

const invalidCases: Case[] = [
  ['manifest-file', '{ "capabilities": ', 'not valid JSON'],
  ['manifest-file', '[]', 'not a JSON object'],
  [
    'schema',
    manifestWith({ ...booleanParser, environmentIdPath: 42 }),
    '/capabilities/syncedSegment/requestParser/environmentIdPath: must be string'
  ],
  ['schema', manifestWith({ ...booleanParser, memberIdPath: '/x' }), 'unknown property "memberIdPath"'],
  [
    'schema',
    manifestWith({ ...booleanParser, cohortIdPath: undefined }),
    "must have required property 'cohortIdPath'"
  ],
  [
    'schema',
    manifestWith({ ...booleanParser }, { jsonResponseBody: 5 }),
    '/capabilities/syncedSegment/jsonResponseBody: must be string'
  ],
  [
    'add-remove-pair',
    manifestWith({ ...booleanParser, memberArrayPath: undefined, addMemberArrayPath: '/add' }),
    'requestParser.addMemberArrayPath needs removeMemberArrayPath'
  ],
  [
    'add-remove-pair',
    manifestWith({ ...booleanParser, memberArrayPath: undefined, removeMemberArrayPath: '/remove' }),
    'requestParser.removeMemberArrayPath needs addMemberArrayPath'
  ],
  [
    'member-array-exclusive',
    manifestWith({ ...booleanParser, addMemberArrayPath: '/add', removeMemberArrayPath: '/remove' }),
    'memberArrayPath cannot be combined'
  ],
  [
    'array-inclusion-exclusive',
    manifestWith({
      ...booleanParser,
      memberArrayPath: undefined,
      addMemberArrayPath: '/add',
      removeMemberArrayPath: '/remove',
      arrayInclusion: { path: '/action', matcher: '^add$' },
      memberArrayParser: { memberIdPath: '/userId' }
    }),
    'requestParser.arrayInclusion cannot be combined with addMemberArrayPath/removeMemberArrayPath'
  ],
  [
    'array-inclusion-needs-member-array',
    manifestWith({
      ...booleanParser,
      memberArrayPath: '',
      arrayInclusion: { path: '/action', matcher: '^add$' }
    }),
    'requestParser.arrayInclusion needs memberArrayPath (it is "", which means not set)'
  ],
  // LaunchDarkly's CI: booleanMembershipPath goes only with memberArrayPath, so not in add/remove mode.
  [
    'boolean-membership-needs-member-array',
    manifestWith({
      ...booleanParser,
      memberArrayPath: undefined,
      addMemberArrayPath: '/add',
      removeMemberArrayPath: '/remove'
    }),
    'requestParser.memberArrayParser.booleanMembershipPath goes only with memberArrayPath'
  ],
  [
    'boolean-membership-required',
    manifestWith({
      ...booleanParser,
      memberArrayParser: { memberIdPath: '/userId', booleanMembershipPath: '' }
    }),
    'booleanMembershipPath is required'
  ],
  [
    'boolean-membership-required',
    manifestWith({ ...booleanParser, memberArrayParser: { memberIdPath: '/userId' } }),
    'booleanMembershipPath is required'
  ],
  [
    'member-array-required',
    manifestWith({
      ...booleanParser,
      memberArrayPath: undefined,
      memberArrayParser: { memberIdPath: '/userId' }
    }),
    'needs memberArrayPath'
  ],
  [
    'member-array-required',
    manifestWith({
      ...booleanParser,
      memberArrayPath: undefined,
      addMemberArrayPath: '',
      removeMemberArrayPath: '',
      memberArrayParser: { memberIdPath: '/userId' }
    }),
    'needs memberArrayPath'
  ],
  [
    'json-pointer',
    manifestWith({ ...booleanParser, environmentIdPath: 'environmentId' }),
    'requestParser.environmentIdPath: invalid JSON pointer "environmentId"'
  ],
  [
    'json-pointer',
    manifestWith({ ...booleanParser, cohortUrlPath: '/url~2' }),
    'requestParser.cohortUrlPath'
  ],
  [
    'json-pointer',
    manifestWith({
      ...booleanParser,
      memberArrayParser: { memberIdPath: 'userId', booleanMembershipPath: '/value' }
    }),
    'requestParser.memberArrayParser.memberIdPath'
  ],
  [
    'json-pointer',
    manifestWith({ ...booleanParser, arrayInclusion: { path: 'action', matcher: 'add' } }),
    'requestParser.arrayInclusion.path'
  ],
  [
    'json-pointer',
    manifestWith({
      ...booleanParser,
      memberArrayPath: undefined,
      addMemberArrayPath: '/add',
      removeMemberArrayPath: 'remove',
      memberArrayParser: { memberIdPath: '/userId' }
    }),
    'requestParser.removeMemberArrayPath'
  ],
  [
    'matcher-regex',
    manifestWith({ ...booleanParser, arrayInclusion: { path: '/action', matcher: '^(add' } }),
    'requestParser.arrayInclusion.matcher: Invalid regular expression'
  ],
  [
    'response-template',
    manifestWith({ ...booleanParser }, { jsonResponseBody: '{ "a": "{{#if x}}" }' }),
    'jsonResponseBody is not a valid Handlebars template'
  ],
  // "}}}" closes a triple-stash: a JSON object ending right after a block is a classic mistake.
  [
    'response-template',
    manifestWith({ ...booleanParser }, { jsonResponseBody: '{"a": {{#if x}}1{{else}}2{{/if}}}' }),
    'Parse error'
  ],
  [
    'response-template',
    manifestWith({ ...booleanParser }, { jsonResponseBody: '{"a": "{{shout segmentKey}}"}' }),
    'Missing helper: "shout"'
  ]
]

describe('validation rules', () => {
  it.each(invalidCases)('%s: %j', (rule, manifest, messagePart) => {
    const dir = writeManifest('broken', manifest)
    const file = join(dir, 'broken', 'manifest.json')
    const problems = validateIntegrationsDir(dir)
    expect(problems).toContainEqual({ file, rule, message: expect.stringContaining(messagePart) })

    expect(() => loadIntegrations([dir])).toThrow(IntegrationError)
    try {
      loadIntegrations([dir])
    } catch (err) {
      expect((err as IntegrationError).message).toContain(`${file}: [${rule}]`)
      expect((err as IntegrationError).message).toContain(messagePart)
      expect((err as IntegrationError).problems).toEqual(problems)
    }
  })

  it('reports a missing manifest.json', () => {
    mkdirSync(join(root, 'dir', 'no-manifest'), { recursive: true })
    expect(validateIntegrationsDir(join(root, 'dir'))).toEqual([
      {
        file: join(root, 'dir', 'no-manifest', 'manifest.json'),
        rule: 'manifest-file',
        message: expect.stringContaining('cannot read the manifest')
      }
    ])
  })

  it('reports a directory that cannot be read', () => {
    const missing = join(root, 'nope')
    expect(validateIntegrationsDir(missing)).toEqual([
      {
        file: missing,
        rule: 'integrations-dir',
        message: expect.stringContaining('cannot read the directory')
      }
    ])
    expect(() => loadIntegrations([missing])).toThrow(`${missing}: [integrations-dir]`)
  })

  it('reports two directories differing only in case', () => {
    writeManifest('Partner', manifestWith({ ...booleanParser }))
    const dir = writeManifest('partner', manifestWith({ ...booleanParser }))
    expect(validateIntegrationsDir(dir)).toEqual([
      {
        file: join(dir, 'partner', 'manifest.json'),
        rule: 'duplicate-key',
        message: expect.stringContaining('"partner" is already used')
      }
    ])
  })

  it('reports a directory name that cannot be part of a segment key', () => {
    const dir = writeManifest('my partner', manifestWith({ ...booleanParser }))
    expect(validateIntegrationsDir(dir)).toEqual([
      {
        file: join(dir, 'my partner', 'manifest.json'),
        rule: 'integration-key',
        message: expect.stringContaining('"my partner"')
      }
    ])
  })

  it('lists every problem of every manifest, and still loads nothing from a broken set', () => {
    writeManifest('good', manifestWith({ ...booleanParser }))
    writeManifest(
      'bad1',
      manifestWith({
        ...booleanParser,
        memberArrayPath: undefined,
        addMemberArrayPath: 'add',
        memberArrayParser: { memberIdPath: '/userId' }
      })
    )
    const dir = writeManifest('bad2', '[')
    const problems = validateIntegrationsDir(dir)
    expect(problems.map((p) => [p.file.slice(dir.length + 1), p.rule])).toEqual([
      [join('bad1', 'manifest.json'), 'add-remove-pair'],
      [join('bad1', 'manifest.json'), 'json-pointer'],
      [join('bad2', 'manifest.json'), 'manifest-file']
    ])
    expect(() => loadIntegrations([dir])).toThrow(IntegrationError)
  })

  it('reports pointer, matcher and template problems alongside a broken structural rule', () => {
    const dir = writeManifest(
      'many',
      manifestWith(
        {
          ...booleanParser,
          memberArrayPath: undefined,
          cohortIdPath: 'cohort',
          arrayInclusion: { path: '/a', matcher: '[' }
        },
        { jsonResponseBody: '{{#each}}' }
      )
    )
    expect(validateIntegrationsDir(dir).map((p) => p.rule)).toEqual([
      'array-inclusion-needs-member-array',
      'boolean-membership-needs-member-array',
      'member-array-required',
      'json-pointer',
      'matcher-regex',
      'response-template'
    ])
  })

  it('accepts each valid shape', () => {
    writeManifest('boolean', manifestWith({ ...booleanParser }))
    writeManifest(
      'inclusion',
      manifestWith({
        ...booleanParser,
        memberArrayParser: { memberIdPath: '/id' },
        arrayInclusion: { path: '/action', matcher: '^add$' }
      })
    )
    const dir = writeManifest(
      'add-remove',
      manifestWith(
        {
          ...booleanParser,
          memberArrayPath: undefined,
          addMemberArrayPath: '/add',
          removeMemberArrayPath: '/remove',
          memberArrayParser: { memberIdPath: '' }
        },
        { jsonResponseBody: '{"ok": {{#if errorMessage}}false{{else}}true{{/if}} }' }
      )
    )
    expect(validateIntegrationsDir(dir)).toEqual([])
    expect([...loadIntegrations([dir]).keys()].sort()).toEqual(['add-remove', 'boolean', 'inclusion'])
  })
})

describe("LaunchDarkly's directory: manifests without syncedSegment", () => {
  // The shape of the integration framework's integrations/: most manifests have other capabilities.
  const auditLog = {
    ...CI_FIELDS,
    name: 'Audit hook',
    categories: ['monitoring'],
    capabilities: {
      auditLogEventsHook: {
        endpoint: { url: 'https://x.example', method: 'POST', headers: [] },
        templates: {},
        defaultPolicy: [{ effect: 'allow', resources: ['proj/*:env/*:flag/*'], actions: ['*'] }]
      }
    }
  }
  const noCapabilities = { ...CI_FIELDS, name: 'Code refs', otherCapabilities: ['codeRefs'] }

  it('are skipped, not errors, when loading', () => {
    writeManifest('audit-hook', auditLog)
    writeManifest('coderefs', noCapabilities)
    const dir = writeManifest('partner', manifestWith({ ...booleanParser }))
    const integrations = loadIntegrations([dir])
    expect([...integrations.keys()]).toEqual(['partner'])
    expect([...integrations.skipped.values()]).toEqual([
      { key: 'audit-hook', name: 'Audit hook', manifestPath: join(dir, 'audit-hook', 'manifest.json') },
      { key: 'coderefs', name: 'Code refs', manifestPath: join(dir, 'coderefs', 'manifest.json') }
    ])
    expect(validateIntegrations(dir)).toEqual({
      problems: [],
      valid: ['partner'],
      skipped: ['audit-hook', 'coderefs']
    })
  })

  it('a later directory can replace an integration with one that has no capability, and back', () => {
    const extra = writeManifest('amplitude', noCapabilities, 'extra')
    const replaced = loadIntegrations([BUNDLED_INTEGRATIONS_DIR, extra])
    expect(replaced.has('amplitude')).toBe(false)
    expect(replaced.skipped.has('amplitude')).toBe(true)
    const back = loadIntegrations([extra, BUNDLED_INTEGRATIONS_DIR])
    expect(back.has('amplitude')).toBe(true)
    expect(back.skipped.size).toBe(0)
  })

  it("still get LaunchDarkly's CI checks from validate", () => {
    const dir = writeManifest('coderefs', { ...noCapabilities, overview: 'No final period here' })
    expect(validateIntegrationsDir(dir)).toEqual([
      {
        file: join(dir, 'coderefs', 'manifest.json'),
        rule: 'overview-period',
        message: 'overview must end in a period, got "No final period here"'
      }
    ])
  })
})

describe("integrations validate: LaunchDarkly's CI verdict, every problem at once", () => {
  it('reports the whole manifest against manifest.schema.json, icons and overview, beside the capability rules', () => {
    const { description: _description, ...withoutDescription } = CI_FIELDS
    const manifest = {
      ...withoutDescription,
      version: '1.0',
      icons: { square: 'assets/missing.svg', horizontal: 'assets/horizontal.svg' },
      overview: 'Syncs cohorts',
      capabilities: {
        syncedSegment: {
          requestParser: {
            ...booleanParser,
            memberArrayPath: undefined,
            addMemberArrayPath: '/add',
            removeMemberArrayPath: '/remove'
          }
        }
      }
    }
    const dir = writeManifest('partner', manifest)
    const file = join(dir, 'partner', 'manifest.json')
    expect(validateIntegrationsDir(dir)).toEqual([
      { file, rule: 'manifest-schema', message: "(manifest): must have required property 'description'" },
      { file, rule: 'manifest-schema', message: '/version: must NOT have fewer than 5 characters' },
      { file, rule: 'manifest-schema', message: expect.stringMatching(/^\/version: must match pattern/) },
      {
        file,
        rule: 'icon-file',
        message: `icons.square: assets/missing.svg does not exist in ${join(dir, 'partner')}`
      },
      { file, rule: 'overview-period', message: 'overview must end in a period, got "Syncs cohorts"' },
      {
        file,
        rule: 'boolean-membership-needs-member-array',
        message: expect.stringContaining('booleanMembershipPath goes only with memberArrayPath')
      }
    ])
  })

  it('a schema error does not hide the rules, pointers, matcher or template problems of the same capability', () => {
    const requestParser = {
      ...booleanParser,
      cohortIdPath: 7,
      cohortNamePath: 'name',
      memberArrayPath: undefined,
      addMemberArrayPath: '/add',
      arrayInclusion: { path: '/a', matcher: '(' }
    }
    const dir = writeManifest('partner', manifestWith(requestParser, { jsonResponseBody: '{{#if}}' }))
    expect(validateIntegrationsDir(dir).map((p) => `${p.rule}: ${p.message}`)).toEqual([
      'schema: /capabilities/syncedSegment/requestParser/cohortIdPath: must be string',
      'add-remove-pair: requestParser.addMemberArrayPath needs removeMemberArrayPath',
      'array-inclusion-exclusive: requestParser.arrayInclusion cannot be combined with addMemberArrayPath/removeMemberArrayPath',
      'array-inclusion-needs-member-array: requestParser.arrayInclusion needs memberArrayPath',
      'boolean-membership-needs-member-array: requestParser.memberArrayParser.booleanMembershipPath goes only with memberArrayPath',
      expect.stringMatching(/^json-pointer: requestParser.cohortNamePath: invalid JSON pointer "name"/),
      expect.stringMatching(
        /^matcher-regex: requestParser.arrayInclusion.matcher: Invalid regular expression/
      ),
      expect.stringMatching(/^response-template: jsonResponseBody is not a valid Handlebars template/)
    ])
    expect(() => loadIntegrations([dir])).toThrow(IntegrationError)
  })

  it('the capability is not reported twice when it breaks the schema', () => {
    const dir = writeManifest('partner', manifestWith({ ...booleanParser, environmentIdPath: 42 }))
    expect(validateIntegrationsDir(dir)).toEqual([
      {
        file: join(dir, 'partner', 'manifest.json'),
        rule: 'schema',
        message: '/capabilities/syncedSegment/requestParser/environmentIdPath: must be string'
      }
    ])
  })

  it('flags jsonResponseBody variables that do not exist, which a receiver still serves (they render as "")', () => {
    const template =
      '{"project": "{{projectId}}", "segment": "{{segmentKey}}", "env": "{{requestBody.environmentId}}"}'
    const dir = writeManifest('partner', manifestWith({ ...booleanParser }, { jsonResponseBody: template }))
    expect(validateIntegrationsDir(dir)).toEqual([
      {
        file: join(dir, 'partner', 'manifest.json'),
        rule: 'response-template-variable',
        message: expect.stringContaining(
          'jsonResponseBody reads "projectId", which is not a variable (requestBody, statusCode, errorMessage'
        )
      }
    ])
    expect(loadIntegrations([dir]).get('partner')?.responseTemplate).toBeDefined()
  })

  it("the bundled manifests are LaunchDarkly's verbatim and pass its CI checks", () => {
    expect(validateIntegrations(BUNDLED_INTEGRATIONS_DIR)).toEqual({
      problems: [],
      valid: BUNDLED_KEYS,
      skipped: []
    })
    const amplitude = JSON.parse(
      readFileSync(join(BUNDLED_INTEGRATIONS_DIR, 'amplitude', 'manifest.json'), 'utf8')
    ) as Record<string, unknown>
    expect(Object.keys(amplitude)).toEqual(
      expect.arrayContaining([
        'name',
        'version',
        'overview',
        'description',
        'author',
        'supportEmail',
        'links',
        'categories',
        'icons',
        'capabilities'
      ])
    )
    expect(amplitude).not.toHaveProperty('integrationKey')
  })
})
