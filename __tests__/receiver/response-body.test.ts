import fc from 'fast-check'
import { HttpError } from '../../src/errors'
import { BUNDLED_INTEGRATIONS_DIR, loadIntegrations, type ResponseContext } from '../../src/receiver/integrations'
import { compileManifest, type CompiledIntegration } from '../../src/receiver/integrations/compile'
import { renderResponseBody, unknownTemplateVariables } from '../../src/receiver/response-body'

const integrations = loadIntegrations([BUNDLED_INTEGRATIONS_DIR])

function withTemplate(jsonResponseBody: string, key = 'templated'): CompiledIntegration {
  const result = compileManifest(key, `/virtual/${key}/manifest.json`, {
    capabilities: {
      syncedSegment: {
        requestParser: {
          environmentIdPath: '/environmentId',
          cohortIdPath: '/cohortId',
          cohortNamePath: '/cohortName',
          memberArrayPath: '/batch',
          memberArrayParser: { memberIdPath: '/userId', booleanMembershipPath: '/value' }
        },
        jsonResponseBody
      }
    }
  })
  if (result.integration === undefined) throw new Error(JSON.stringify(result.problems))
  return result.integration
}

// The template of LaunchDarkly's documentation (seed 002): strings in quotes, statusCode bare.
const SEED_TEMPLATE =
  '{ "environmentId": "{{requestBody.environmentId}}", "projectKey": "{{projectKey}}", "envKey": "{{environmentKey}}", "segmentKey": "{{segmentKey}}", "segmentUrl": "{{segmentUrl}}", {{#if errorMessage}}"status":"failure", "error": {"message": "{{{errorMessage}}}", "code": {{statusCode}} }{{else}}"status": "success"{{/if}} }'
const seed = withTemplate(SEED_TEMPLATE, 'seed')

const success: ResponseContext = {
  requestBody: { environmentId: 'env-client-side-id' },
  statusCode: 200,
  errorMessage: '',
  projectKey: 'default',
  environmentKey: 'production',
  segmentKey: 'seed-cohort-1',
  segmentUrl: 'http://localhost:8080/default/production/segments/seed-cohort-1'
}

describe('renderResponseBody', () => {
  it('is undefined for an integration without jsonResponseBody', () => {
    const amplitude = integrations.get('amplitude') as CompiledIntegration
    expect(renderResponseBody(amplitude, success)).toBeUndefined()
  })

  it('renders the documented template on success', () => {
    expect(JSON.parse(renderResponseBody(seed, success) as string)).toEqual({
      environmentId: 'env-client-side-id',
      projectKey: 'default',
      envKey: 'production',
      segmentKey: 'seed-cohort-1',
      segmentUrl: 'http://localhost:8080/default/production/segments/seed-cohort-1',
      status: 'success'
    })
  })

  it('renders the documented template on error, with the status code as a number', () => {
    const output = renderResponseBody(seed, { ...success, statusCode: 400, errorMessage: '/batch/3/userId: expected a string or number, got object' })
    expect(JSON.parse(output as string)).toMatchObject({
      status: 'failure',
      error: { message: '/batch/3/userId: expected a string or number, got object', code: 400 }
    })
  })

  it('JSON-escapes quotes, backslashes, newlines and control characters, in {{x}} and {{{x}}} alike', () => {
    const nasty = 'say "hi"\\ \n\r\t\u0000\u001f </script> <b>&amp;</b> \' ` = \u2028 😀 \ud800'
    const output = renderResponseBody(seed, {
      ...success,
      requestBody: { environmentId: nasty },
      statusCode: 400,
      errorMessage: nasty,
      segmentKey: nasty
    }) as string
    const parsed = JSON.parse(output)
    expect(parsed.environmentId).toBe(nasty)
    expect(parsed.segmentKey).toBe(nasty)
    expect(parsed.error.message).toBe(nasty)
  })

  it('never HTML-escapes', () => {
    const output = renderResponseBody(seed, { ...success, projectKey: "<a href='x'>&</a>" }) as string
    expect(output).toContain(`"projectKey": "<a href='x'>&</a>"`)
    expect(output).not.toContain('&amp;')
    expect(output).not.toContain('&#x27;')
  })

  it('escapes values reached through #each, lookup and @key', () => {
    const template = withTemplate(
      '{ "members": [{{#each requestBody.batch}}{{#unless @first}},{{/unless}}"{{userId}}"{{/each}}], "keys": [{{#each requestBody.extra}}{{#unless @first}},{{/unless}}"{{@key}}={{this}}"{{/each}}], "first": "{{lookup requestBody.batch.[0] "userId"}}", "count": {{requestBody.batch.length}} }'
    )
    const requestBody = {
      batch: [{ userId: 'a"b' }, { userId: 'c\\d' }],
      extra: { 'k"1': 'v\n1', 'k\\2': 'v"2' }
    }
    expect(JSON.parse(renderResponseBody(template, { ...success, requestBody }) as string)).toEqual({
      members: ['a"b', 'c\\d'],
      keys: ['k"1=v\n1', 'k\\2=v"2'],
      first: 'a"b',
      count: 2
    })
  })

  it('escapes @key through block parameters too', () => {
    const template = withTemplate('{ {{#each requestBody as |value key|}}"{{key}}": "{{value}}"{{#unless @last}},{{/unless}}{{/each}} }')
    const requestBody = { 'a"': '1"', 'b\n': '2\\' }
    expect(JSON.parse(renderResponseBody(template, { ...success, requestBody }) as string)).toEqual(requestBody)
  })

  it('leaves the request body untouched', () => {
    const requestBody = { environmentId: 'x"y', nested: { list: ['a"'] } }
    renderResponseBody(withTemplate('{"a": "{{requestBody.environmentId}}", "b": "{{requestBody.nested.list.[0]}}"}'), { ...success, requestBody })
    expect(requestBody).toEqual({ environmentId: 'x"y', nested: { list: ['a"'] } })
  })

  it('does not read inherited properties of the request body', () => {
    const template = withTemplate('{"c": "{{requestBody.constructor}}", "p": "{{requestBody.__proto__}}"}')
    expect(JSON.parse(renderResponseBody(template, success) as string)).toEqual({ c: '', p: '' })
  })

  it('an output that is not JSON is a 500 naming the integration', () => {
    const broken = withTemplate('{ "count": {{requestBody.count}} }', 'broken-partner')
    let error: unknown
    try {
      renderResponseBody(broken, success)
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(HttpError)
    expect(error).toMatchObject({ statusCode: 500, code: 'invalid_response_template' })
    expect((error as HttpError).message).toMatch(/^broken-partner: jsonResponseBody did not render valid JSON: /)
    // The same template renders fine when the value is there.
    expect(renderResponseBody(broken, { ...success, requestBody: { count: 3 } })).toBe('{ "count": 3 }')
  })

  it('a bare string value that breaks the JSON is a 500, not a broken response', () => {
    const bare = withTemplate('{ "id": {{{requestBody.id}}} }', 'bare')
    expect(() => renderResponseBody(bare, { ...success, requestBody: { id: '1, "injected": true' } })).toThrow(
      'bare: jsonResponseBody did not render valid JSON'
    )
  })

  it('renders the bundled templates (heap-inbound, example 2) for success and error', () => {
    for (const key of ['heap-inbound', 'example-synced-segment-integration2']) {
      const integration = integrations.get(key) as CompiledIntegration
      const ok = JSON.parse(renderResponseBody(integration, success) as string)
      expect(ok.status).toBe('success')
      const failed = JSON.parse(renderResponseBody(integration, { ...success, statusCode: 403, errorMessage: 'token "x" lacks createSegment' }) as string)
      expect(failed).toMatchObject({ status: 'failure', error: { message: 'token "x" lacks createSegment', code: 403 } })
    }
  })
})

describe('renderResponseBody: properties', () => {
  const templated = [seed, ...[...integrations.values()].filter((i) => i.responseTemplate !== undefined)]
  const contextArb = fc.record({
    requestBody: fc.oneof(
      fc.jsonValue(),
      fc.record({ environmentId: fc.string({ unit: 'binary' }), contextKind: fc.string({ unit: 'binary' }) })
    ),
    statusCode: fc.constantFrom(200, 400, 403, 404, 409, 429, 500),
    errorMessage: fc.string({ unit: 'binary' }),
    projectKey: fc.string({ unit: 'binary' }),
    environmentKey: fc.string({ unit: 'binary' }),
    segmentKey: fc.string({ unit: 'binary' }),
    segmentUrl: fc.string({ unit: 'binary' })
  })

  it('the output of every quoted template is valid JSON holding the strings unchanged, whatever they contain', () => {
    fc.assert(
      fc.property(fc.constantFrom(...templated), contextArb, (integration, ctx) => {
        const parsed = JSON.parse(renderResponseBody(integration, ctx) as string)
        expect(Object.values(parsed)).toContain(ctx.segmentKey)
        expect(Object.values(parsed)).toContain(ctx.segmentUrl)
        if (ctx.errorMessage !== '') expect(parsed.error).toEqual({ message: ctx.errorMessage, code: ctx.statusCode })
        else expect(parsed.status).toBe('success')
      }),
      { numRuns: 300 }
    )
  })

  it('keys and values iterated with #each stay valid JSON', () => {
    const template = withTemplate('{ {{#each requestBody}}"{{@key}}": "{{{this}}}"{{#unless @last}},{{/unless}}{{/each}} }')
    fc.assert(
      fc.property(fc.dictionary(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' })), (requestBody) => {
        const body = JSON.parse(JSON.stringify(requestBody))
        expect(JSON.parse(renderResponseBody(template, { ...success, requestBody: body }) as string)).toEqual(body)
      }),
      { numRuns: 300 }
    )
  })
})

describe('unknownTemplateVariables (integrations validate)', () => {
  it('finds none in the documented template and the bundled ones', () => {
    expect(unknownTemplateVariables(SEED_TEMPLATE)).toEqual([])
    for (const integration of integrations.values()) {
      const source = integration.capability.jsonResponseBody
      if (source) expect(unknownTemplateVariables(source)).toEqual([])
    }
  })

  it('names each top-level variable the context does not have, as written', () => {
    expect(unknownTemplateVariables('{"a": "{{projectId}}", "b": "{{segmentkey}}", "c": "{{@root.envKey}}", "d": {{statusCode}}, "e": "{{projectId}}"}')).toEqual([
      '@root.envKey',
      'projectId',
      'segmentkey'
    ])
  })

  it('reads anything under requestBody, which is the partner\'s own JSON', () => {
    expect(unknownTemplateVariables('"{{requestBody.batch.0.userId}}" "{{lookup requestBody "x"}}"')).toEqual([])
  })

  it('inside #each and #with only ../ and @root paths reach the top level; #if and #unless keep it', () => {
    const template =
      '{{#each requestBody.batch}}{{userId}}{{../segmentKey}}{{../nope}}{{@index}}{{/each}}' +
      '{{#with requestBody}}{{environmentId}}{{@root.alsoNope}}{{/with}}' +
      '{{#if errorMessage}}{{missing}}{{else}}{{segmentUrl}}{{/if}}{{#unless statusCode}}{{absent}}{{/unless}}'
    expect(unknownTemplateVariables(template)).toEqual(['../nope', '@root.alsoNope', 'absent', 'missing'])
  })

  it('a section on an unknown name is itself unknown', () => {
    expect(unknownTemplateVariables('{{#items}}{{x}}{{/items}}')).toEqual(['items'])
  })
})
