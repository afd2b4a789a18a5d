// A real OpenID Connect provider for the tests: the npm package `oidc-provider` (installed by scripts/test.sh),
// its development login form (any name signs in, as the account of that `sub`, with email <name>@example.test,
// verified, and name and preferred_username <name>), PKCE (S256) required, no consent page.
// Settings by environment: OIDC_NODE_MODULES (where oidc-provider is installed; ESM ignores NODE_PATH),
// OIDC_PORT (on 127.0.0.1 only), OIDC_ISSUER, OIDC_CLIENTS (a JSON array of {client_id, client_secret,
// redirect_uris}), OIDC_CLOCK_OFFSET_SECONDS (the whole provider runs that far off: a provider whose ID tokens
// have expired when they arrive). Prints `ready <issuer>` once listening.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

// The clock first, before the provider reads it.
const offset = Number(process.env.OIDC_CLOCK_OFFSET_SECONDS || 0) * 1000;
if (offset !== 0) {
  const realNow = Date.now;
  Date.now = () => realNow() + offset;
}

const entry = join(process.env.OIDC_NODE_MODULES, 'oidc-provider', 'lib', 'index.js');
const { default: Provider } = await import(pathToFileURL(entry).href);

const issuer = process.env.OIDC_ISSUER;
const clients = JSON.parse(process.env.OIDC_CLIENTS).map((c) => ({
  ...c,
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
}));

const provider = new Provider(issuer, {
  clients,
  // Every login name is an account of that name.
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: `${id}@example.test`, email_verified: true, name: id, preferred_username: id };
      },
    };
  },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username'] },
  // The scopes' claims in the ID token too (not only at userinfo): Cartable reads email and preferred_username there.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  // No consent page: what the client asks for is granted (the test is about the relying party).
  async loadExistingGrant(ctx) {
    const { Grant } = ctx.oidc.provider;
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    const grant = (grantId && (await Grant.find(grantId)))
      || new Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope([...ctx.oidc.requestParamOIDCScopes].join(' '));
    grant.addOIDCClaims(['sub', 'email', 'email_verified', 'name', 'preferred_username']);
    await grant.save();
    return grant;
  },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  ttl: { IdToken: 3600 },
});
provider.on('server_error', (ctx, error) => console.error('oidc-provider server error:', error));
// The development login page imports a web font from the Internet: this page is only for a test's browser, which
// must reach nothing but this machine.
provider.use(async (ctx, next) => {
  await next();
  if (ctx.path.startsWith('/interaction/') && typeof ctx.body === 'string') {
    ctx.body = ctx.body.replace(/@import url\(https?:[^)]*\);/g, '');
  }
});
// Cookies' expiry dates are put back on the real clock, or a browser (curl too) would drop them at once as expired.
if (offset !== 0) {
  provider.use(async (ctx, next) => {
    await next();
    const cookies = ctx.response.get('Set-Cookie');
    if (Array.isArray(cookies)) {
      ctx.set('Set-Cookie', cookies.map((c) => c.replace(/expires=([^;]+)/i, (_, d) => `expires=${new Date(Date.parse(d) - offset).toUTCString()}`)));
    }
  });
}

const server = provider.listen(Number(process.env.OIDC_PORT), '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
// A browser's kept-alive connections would hold server.close() open: they are cut.
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
