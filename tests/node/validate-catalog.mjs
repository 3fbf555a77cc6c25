// Validates Backstage catalog entities the way the catalog does: the entity envelope, the
// field-format and schema policies, then the validator of the entity's kind.
// Input (stdin): JSON [{"file": "...", "entities": [ ... ]}]. Output: one line per error; exit 1 on any.
import { createRequire } from 'node:module';
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

let input = '';
for await (const chunk of process.stdin) input += chunk;
let failures = 0;
for (const { file, entities } of JSON.parse(input)) {
  for (const [index, entity] of entities.entries()) {
    const where = `${file}#${index} (${entity?.kind}/${entity?.metadata?.name})`;
    try {
      const checked = await policy.enforce(entity);
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
