/**
 * Generates src/destination/**\/generated-types.ts from the field definitions, the way Segment's
 * action-destinations does: fields → JSON schema (actions-core) → TypeScript
 * (json-schema-to-typescript). `npm run generate-types` writes the files; with `--print` it writes
 * them as JSON to stdout instead, which __tests__/destination/generated-types.test.ts compares
 * with the committed files (in a child process: prettier's dynamic import does not run under jest).
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fieldsToJsonSchema, type MinimalInputField } from '@segment/actions-core'
import { compile, type JSONSchema } from 'json-schema-to-typescript'
import destination from '../src/destination'

const ROOT = join(__dirname, '..')

const BANNER = `// Generated file. DO NOT MODIFY IT BY HAND: edit the field definitions and run \`npm run generate-types\`.`

/** Titles would become one named alias per field; without them each field is documented inline. */
function withoutTitles(schema: JSONSchema): JSONSchema {
  return JSON.parse(JSON.stringify(schema), (key, value: unknown) =>
    key === 'title' ? undefined : value
  ) as JSONSchema
}

async function typeFor(fields: Record<string, MinimalInputField>, name: string): Promise<string> {
  const schema = withoutTitles(fieldsToJsonSchema(fields, { tsType: true }))
  return compile(schema, name, {
    bannerComment: BANNER,
    unknownAny: true,
    style: { semi: false, singleQuote: true, printWidth: 110, trailingComma: 'none' }
  })
}

/** Repository-relative path → file content, for every generated file. */
export async function generateTypes(): Promise<Record<string, string>> {
  const files: Record<string, string> = {
    'src/destination/generated-types.ts': await typeFor(destination.authentication?.fields ?? {}, 'Settings')
  }
  for (const [slug, action] of Object.entries(destination.actions)) {
    files[`src/destination/${slug}/generated-types.ts`] = await typeFor(action.fields, 'Payload')
  }
  return files
}

async function main(): Promise<void> {
  const files = await generateTypes()
  if (process.argv.includes('--print')) {
    process.stdout.write(JSON.stringify(files))
    return
  }
  for (const [path, content] of Object.entries(files)) {
    writeFileSync(join(ROOT, path), content)
    console.log(`wrote ${path}`)
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error)
    process.exitCode = 1
  })
}
