// Validates Prometheus Operator objects (JSON array on stdin) against the published schemas.
// Usage: node validate_prometheus_operator.mjs <node_modules dir>  < objects.json
// The package is ESM-only and lives outside this file's tree, so modules are imported by file URL.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const base = `${process.argv[2]}/@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1`;
const objects = JSON.parse(readFileSync(0, "utf8"));
let failed = 0;
for (const obj of objects) {
  const mod = await import(pathToFileURL(`${base}/${obj.kind}.js`).href);
  try {
    new mod[obj.kind](obj).validate();
    console.log(`ok ${obj.kind}/${obj.metadata.name}`);
  } catch (err) {
    failed += 1;
    console.log(`invalid ${obj.kind}/${obj.metadata.name}: ${err.message}`);
  }
}
process.exit(failed ? 1 : 0);
