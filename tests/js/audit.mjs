// Runs the graphql-http server audit against a GraphQL endpoint and prints the results as JSON.
//
//   node audit.mjs http://127.0.0.1:8000/graphql
//
// Prints one JSON array on stdout: {id, name, requirement, status, reason?, response?} per audit,
// where status is "ok", or "notice"/"warn"/"error" for a failure. Judging the results is left to
// tests/test_graphql_http_audit.py; this script exits non-zero only if it could not audit at all.
import { auditServer } from 'graphql-http';

async function describe(response) {
  if (!response) return undefined;
  let body;
  try {
    body = await response.clone().text();
  } catch {
    body = '<body already read by the audit>';
  }
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    body: body.slice(0, 500),
  };
}

async function main() {
  const url = process.argv[2];
  if (!url) {
    console.error('usage: node audit.mjs <graphql endpoint url>');
    process.exit(2);
  }
  const results = [];
  for (const result of await auditServer({ url })) {
    results.push({
      id: result.id,
      name: result.name,
      requirement: result.name.split(' ', 1)[0],
      status: result.status,
      ...(result.status === 'ok'
        ? {}
        : { reason: result.reason, response: await describe(result.response) }),
    });
  }
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
