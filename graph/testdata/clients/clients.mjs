// Standard GraphQL clients against a Reserva test server (run by graph/clients_test.go):
//   node clients.mjs HTTP_URL STAFF_TOKEN
// Prints one JSON object per line, {"step": ..., ...}. The Go test makes a booking once the
// subscription is open (and again while no event has arrived: the server starts following
// events when the subscription runs, which the client cannot see).
import { buildClientSchema, getIntrospectionQuery, printSchema } from 'graphql';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [url, token] = process.argv.slice(2);
const wsURL = url.replace(/^http/, 'ws');
const say = (step, more = {}) => console.log(JSON.stringify({ step, ...more }));
const fail = (msg) => { say('fail', { msg: String(msg) }); process.exit(1); };
const timeout = setTimeout(() => fail('timed out'), 30000);

// 1. Introspection as GraphiQL, Apollo and codegen do it.
{
  const query = getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true,
    schemaDescription: true, inputValueDeprecation: true });
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ query }) });
  const body = await res.json();
  if (res.status !== 200 || body.errors) fail(`introspection: ${res.status} ${JSON.stringify(body.errors)}`);
  const schema = buildClientSchema(body.data);
  const sub = schema.getSubscriptionType();
  if (!sub || !sub.getFields().bookingEvents) fail('no Subscription.bookingEvents in the built schema');
  say('introspection', { types: Object.keys(schema.getTypeMap()).length, sdlBytes: printSchema(schema).length });
}

// 2. A graphql-ws client with an API token receives the event of a booking the Go test makes.
{
  const client = createClient({ url: wsURL, webSocketImpl: WebSocket, connectionParams: { Authorization: `Bearer ${token}` },
    on: { connected: (_socket, payload) => say('connected', { ackPayload: payload ?? null }) } });
  const events = client.iterate({ query: 'subscription { bookingEvents { type actor booking { customer { email } } } }' });
  say('subscribed');
  const { value, done } = await events.next();
  if (done) fail('the subscription ended without an event');
  if (value.errors) fail(`event errors: ${JSON.stringify(value.errors)}`);
  say('event', { event: value.data.bookingEvents });
  await events.return();
  await client.dispose();
}

// 3. A bad token is refused with 4401 and the client does not try again.
{
  let connecting = 0;
  const client = createClient({ url: wsURL, webSocketImpl: WebSocket, connectionParams: { Authorization: 'Bearer not-a-token' },
    retryAttempts: 5, retryWait: async () => {}, on: { connecting: () => connecting++ } });
  const closed = await new Promise((resolve) => {
    client.subscribe({ query: 'subscription { bookingEvents { type } }' },
      { next: () => resolve({ code: 'next' }), error: (e) => resolve(e), complete: () => resolve({ code: 'complete' }) });
  });
  // Any retry would have started by now (retryWait is immediate): give it a moment to show.
  await new Promise((r) => setTimeout(r, 300));
  say('refused', { code: closed.code ?? null, reason: closed.reason ?? String(closed), connecting });
  await client.dispose();
}

clearTimeout(timeout);
say('done');
