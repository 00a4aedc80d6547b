// Evaluates IAM requests with the IAM policy evaluator scripts/iam-simulate.sh installs
// (npm @cloud-copilot/iam-simulate, in ./.tools/iam-simulate; an outside tool, never shipped).
//
// stdin: a JSON array of requests, each
//   { "principal": ARN, "action": "service:Action", "resource": ARN,
//     "account": "123456789012"            (the resource's account; default: from its ARN),
//     "identity_policies": [document, …]  (the principal's policies),
//     "resource_policy": document          (optional: a trust policy, a key policy),
//     "context": { key: value, … }         (optional request context) }
// stdout: a JSON array, in the same order, of { "decision": "Allowed" | "ImplicitlyDenied" |
//   "ExplicitlyDenied" } or, for a request the evaluator refused to run (an unknown action,
//   a resource the action does not take, a malformed policy), { "error": "…" }.
// Exit status 2 when the evaluator is not installed or the input is not such an array.
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import path from 'node:path'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const toolDir = path.join(root, '.tools', 'iam-simulate')

let simulate
try {
  simulate = createRequire(path.join(toolDir, 'package.json'))('@cloud-copilot/iam-simulate')
} catch (e) {
  process.stderr.write(
    `scripts/iam-eval.mjs: the IAM policy evaluator is not installed in ${toolDir}; ` +
      `run scripts/iam-simulate.sh (scripts/test.sh does): ${e.message}\n`
  )
  process.exit(2)
}

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
let requests
try {
  requests = JSON.parse(Buffer.concat(chunks).toString('utf8'))
  if (!Array.isArray(requests)) throw new Error('not an array')
} catch (e) {
  process.stderr.write(`scripts/iam-eval.mjs: stdin must be a JSON array of requests: ${e.message}\n`)
  process.exit(2)
}

const decisions = []
for (const r of requests) {
  const simulation = {
    request: {
      principal: r.principal,
      action: r.action,
      resource: { resource: r.resource, accountId: r.account ?? r.resource.split(':')[4] },
      contextVariables: r.context ?? {}
    },
    identityPolicies: (r.identity_policies ?? []).map((policy, i) => ({ name: `policy-${i}`, policy })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: r.resource_policy ?? undefined
  }
  const result = await simulate.runSimulation(simulation, {})
  if (result.resultType === 'error') {
    decisions.push({ error: JSON.stringify(result.errors) })
  } else {
    decisions.push({ decision: result.overallResult })
  }
}
process.stdout.write(JSON.stringify(decisions) + '\n')
