// Validates Backstage catalog entities the way the catalog does: placeholders such as
// `definition: {$text: ./schema.gql}` resolved relative to the entity's file (a missing file is an error),
// then the entity envelope, the field-format and schema policies, and the validator of the entity's kind.
// Input (stdin): JSON [{"file": "...", "entities": [ ... ]}]. Output: one line per error; exit 1 on any.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
const catalog = createRequire(import.meta.url)('@backstage/catalog-model');

const {
  EntityPolicies, DefaultNamespaceEntityPolicy, NoForeignRootFieldsEntityPolicy,
  FieldFormatEntityPolicy, SchemaValidEntityPolicy,
  componentEntityV1alpha1Validator, apiEntityV1alpha1Validator, systemEntityV1alpha1Validator,
  resourceEntityV1alpha1Validator, groupEntityV1alpha1Validator, domainEntityV1alpha1Validator,
} = catalog;

const policy = EntityPolicies.allOf([
  new DefaultNamespaceEntityPolicy(),
  new NoForeignRootFieldsEntityPolicy(),
  new FieldFormatEntityPolicy(),
  new SchemaValidEntityPolicy(),
]);
const kindValidators = [
  componentEntityV1alpha1Validator, apiEntityV1alpha1Validator, systemEntityV1alpha1Validator,
  resourceEntityV1alpha1Validator, groupEntityV1alpha1Validator, domainEntityV1alpha1Validator,
];

// The catalog's placeholder processor: an object whose only key is $text becomes the file's text.
function resolvePlaceholders(value, base) {
  if (Array.isArray(value)) return value.map((item) => resolvePlaceholders(item, base));
  if (value === null || typeof value !== 'object') return value;
  const keys = Object.keys(value);
  if (keys.length === 1 && keys[0] === '$text') {
    const path = resolve(base, value.$text);
    try {
      return readFileSync(path, 'utf8');
    } catch {
      throw new Error(`placeholder $text: cannot read ${value.$text}`);
    }
  }
  return Object.fromEntries(keys.map((key) => [key, resolvePlaceholders(value[key], base)]));
}

let input = '';
for await (const chunk of process.stdin) input += chunk;
let failures = 0;
for (const { file, entities } of JSON.parse(input)) {
  for (const [index, entity] of entities.entries()) {
    const where = `${file}#${index} (${entity?.kind}/${entity?.metadata?.name})`;
    try {
      const checked = await policy.enforce(resolvePlaceholders(entity, dirname(file)));
      let known = false;
      for (const validator of kindValidators) {
        if (await validator.check(checked)) known = true;
      }
      if (!known) throw new Error(`no validator accepts kind ${entity.kind} (${entity.apiVersion})`);
    } catch (error) {
      failures += 1;
      console.log(`${where}: ${error.message}`);
    }
  }
}
process.exit(failures ? 1 : 0);
