// Subscribes through the graphql-sse client (GraphQL over Server-Sent Events) and prints,
// one JSON line each: {"connected": true} once the stream is up, then every result.
// Driven by tests/test_event_streams.py.
//
//   node sse.mjs <url> <distinct|single> <token or -> <results wanted> <query> [variables JSON]
import { createClient } from "graphql-sse";

const [url, mode, token, wanted, query, variables] = process.argv.slice(2);
const print = (value) => process.stdout.write(JSON.stringify(value) + "\n");

const client = createClient({
  url,
  singleConnection: mode === "single",
  lazy: false,
  retryAttempts: 0,
  headers: token === "-" ? {} : { Authorization: `Bearer ${token}` },
  on: { connected: () => print({ connected: true }) },
});

let received = 0;
const timer = setTimeout(() => {
  print({ timeout: true });
  process.exit(2);
}, 20_000);

await new Promise((resolve, reject) => {
  const stop = client.subscribe(
    { query, variables: variables ? JSON.parse(variables) : undefined },
    {
      next: (result) => {
        print(result);
        received += 1;
        if (received >= Number(wanted)) {
          stop();
          resolve();
        }
      },
      error: (error) => reject(error),
      complete: () => resolve(),
    },
  );
});
clearTimeout(timer);
client.dispose();
print({ done: true });
