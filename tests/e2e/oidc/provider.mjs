// A real OpenID Connect provider on loopback for the e2e login tests (npm oidc-provider).
//
//   node tests/e2e/oidc/provider.mjs [--port N] [--host ADDR] [--issuer URL]
//        [--redirect-uri URI]... [--client-id ID] [--client-secret S] [--jwks-file PATH]
//
// Every option can also come from the environment: OIDC_PORT, OIDC_HOST, OIDC_ISSUER,
// OIDC_REDIRECT_URIS (comma separated), OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_JWKS_FILE.
// Port 0 (the default) lets the kernel choose a free port; the issuer is then built from the
// port actually bound (unless --issuer names it, e.g. when it runs as a service behind another
// host name), and one JSON line {"issuer": ...} on stdout tells the caller where it listens.
//
// Logins go through the built-in devInteractions pages: any password is accepted and the login
// value becomes the subject. Its email is the login itself when it contains "@", otherwise
// "<login>@example.test". A login starting with "unverified-" yields the same email with
// email_verified=false, so a test can claim somebody's address without owning it.
import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.OIDC_PORT || '0' },
    host: { type: 'string', default: process.env.OIDC_HOST || '127.0.0.1' },
    issuer: { type: 'string', default: process.env.OIDC_ISSUER || '' },
    // Listen address and public issuer: loopback by default; the Dagger pipeline runs this
    // script as a service that other containers reach by its alias (OIDC_HOST=0.0.0.0).
    host: { type: 'string', default: process.env.OIDC_HOST || '127.0.0.1' },
    issuer: { type: 'string', default: process.env.OIDC_ISSUER || '' },
    'redirect-uri': { type: 'string', multiple: true, default: [] },
    'client-id': { type: 'string', default: process.env.OIDC_CLIENT_ID || 'nox-e2e' },
    'client-secret': { type: 'string', default: process.env.OIDC_CLIENT_SECRET || 'nox-e2e-secret' },
    'jwks-file': { type: 'string', default: process.env.OIDC_JWKS_FILE || '' },
  },
});
const redirectUris = args['redirect-uri'].length
  ? args['redirect-uri']
  : (process.env.OIDC_REDIRECT_URIS || '').split(',').filter(Boolean);
if (!redirectUris.length) {
  console.error('provider.mjs: give at least one --redirect-uri (or OIDC_REDIRECT_URIS)');
  process.exit(2);
}

// The signing key: a private JWKS handed over by the tests (so they can forge tokens signed
// with the provider's own key), otherwise a fresh RSA key for this run only.
function signingKeys() {
  if (args['jwks-file']) return JSON.parse(readFileSync(args['jwks-file'], 'utf8'));
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { keys: [{ ...jwk, kid: `run-${randomBytes(4).toString('hex')}`, use: 'sig', alg: 'RS256' }] };
}

function accountClaims(login) {
  const unverified = login.startsWith('unverified-');
  const base = unverified ? login.slice('unverified-'.length) : login;
  const email = base.includes('@') ? base : `${base}@example.test`;
  return { sub: login, email, email_verified: !unverified, name: `Test ${base}` };
}

const server = createServer();
server.listen(Number(args.port), args.host, () => {
  const issuer = args.issuer || `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: args['client-id'],
      client_secret: args['client-secret'],
      redirect_uris: redirectUris,
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    jwks: signingKeys(),
    cookies: { keys: [randomBytes(32).toString('hex')] },
    pkce: { required: () => true }, // S256 for every client, confidential ones included
    features: { devInteractions: { enabled: true } },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    async findAccount(ctx, id) {
      return { accountId: id, async claims() { return accountClaims(id); } };
    },
    ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 600, Grant: 600 },
  });
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  server.on('request', provider.callback());
  console.log(JSON.stringify({ issuer }));
});

// Exit at once: waiting for idle keep-alive connections would only slow test teardown.
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
