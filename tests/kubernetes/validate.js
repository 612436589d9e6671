// tests/kubernetes/validate.js - validates every object of the YAML files
// named on the command line against the Kubernetes API schemas of the npm
// package kubernetes-models (pinned in package-lock.json beside this
// file), and that every container of a pod template has a livenessProbe.
// Prints one line per object; exits 1 if any object is invalid, of a kind
// it does not know, or if a file holds no object.
'use strict';
const fs = require('fs');
const YAML = require('yaml');

const kinds = {
  'apps/v1': require('kubernetes-models/apps/v1'),
  'v1': require('kubernetes-models/v1'),
};

let bad = 0;
for (const file of process.argv.slice(2)) {
  const docs = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'));
  let n = 0;
  for (const d of docs) {
    if (d.errors.length) {
      console.log(`FAIL ${file}: YAML: ${d.errors[0].message}`);
      bad++;
      continue;
    }
    const obj = d.toJS();
    if (obj == null) continue;
    n++;
    const api = kinds[obj.apiVersion] || {};
    const Model = api[obj.kind];
    const what = `${file}: ${obj.apiVersion} ${obj.kind} ${obj.metadata && obj.metadata.name}`;
    if (typeof Model !== 'function') {
      console.log(`FAIL ${what}: unknown apiVersion/kind`);
      bad++;
      continue;
    }
    try {
      new Model(obj).validate();
      // Every container of a pod template is watched by its own liveness
      // probe: a wedged Runtime behind a healthy nginx must be restarted.
      const spec = obj.spec && obj.spec.template && obj.spec.template.spec;
      for (const c of (spec && spec.containers) || []) {
        if (!c.livenessProbe)
          throw new Error(`container ${c.name} has no livenessProbe`);
      }
      console.log(`ok   ${what}`);
    } catch (e) {
      console.log(`FAIL ${what}: ${e.message}`);
      bad++;
    }
  }
  if (n === 0) {
    console.log(`FAIL ${file}: no object`);
    bad++;
  }
}
process.exit(bad ? 1 : 0);
