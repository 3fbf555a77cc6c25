// Validates what tests/test_delivery.py hands over in a JSON file (argv[2]):
//   resources: [{id, apiVersion, kind, doc}]  custom resources, checked against the CRD schemas
//              shipped by @kubernetes-models (types, enums, patterns, required fields);
//   promql:    [{id, expr}]                   expressions, parsed with Prometheus' own lezer grammar.
// Prints {resources: {id: [errors]}, promql: {id: [errors]}} as JSON; an empty list means valid.
import { readFileSync } from "node:fs";
import { parser } from "@prometheus-io/lezer-promql";

const PACKAGES = {
  "gateway.networking.k8s.io": "@kubernetes-models/gateway-api",
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
  "security.istio.io": "@kubernetes-models/istio",
  "networking.istio.io": "@kubernetes-models/istio",
};

async function validateResource({ apiVersion, kind, doc }) {
  const [group, version] = apiVersion.split("/");
  const pkg = PACKAGES[group];
  if (!pkg || !version) return [`no CRD schema known for ${apiVersion} ${kind}`];
  let Model;
  try {
    Model = (await import(`${pkg}/${group}/${version}/${kind}`))[kind];
  } catch (error) {
    return [`no CRD schema for ${apiVersion} ${kind}: ${error.message}`];
  }
  try {
    new Model(doc).validate();
    return [];
  } catch (error) {
    return [String(error.message || error)];
  }
}

function parsePromql(expr) {
  const errors = [];
  parser.parse(expr).iterate({
    enter(node) {
      if (node.type.isError) errors.push(`syntax error at ${node.from}: ${JSON.stringify(expr.slice(node.from, node.from + 30))}`);
    },
  });
  return errors;
}

const input = JSON.parse(readFileSync(process.argv[2], "utf8"));
const output = { resources: {}, promql: {} };
for (const item of input.resources ?? []) output.resources[item.id] = await validateResource(item);
for (const item of input.promql ?? []) output.promql[item.id] = parsePromql(item.expr);
process.stdout.write(JSON.stringify(output));
