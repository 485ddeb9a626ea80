/**
 * The `jwt` provider: the client sends a JSON Web Token as its password (or user name), verified
 * with `jose` against a shared secret (HS256/384/512), a PEM public key, or a JWKS URL (keys fetched
 * and cached, refetched for an unknown `kid`). Tenant, user and access rules come from claims;
 * the connection ends with 0x87 when the token expires (`exp`, plus the clock tolerance); the client
 * reconnects with a new token (re-authentication needs an enhanced-authentication method).
 *
 * No token (or a password that is not shaped like a JWT): no opinion, the next provider decides.
 * A bad signature, a wrong issuer or audience, an expired token or missing/ill-formed claims: 0x86.
 * A JWKS endpoint that cannot be reached: a provider failure (the failure policy decides).
 */
import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { z } from 'zod';
import { ReasonCode } from '../codec/reason-codes';
import { RatatoskError } from '../errors';
import { isHttpUrl } from '../plugins/http-post';
import type { AuthProvider, AuthRequest, AuthResult, PluginContext } from '../plugins/types';
import { aclSchema } from './acl-schema';

export const jwtAuthOptionsSchema = z
  .object({
    /** Shared secret of HS256/HS384/HS512 tokens. */
    secret: z.string().min(1).optional(),
    /** PEM public key or certificate (RS*, PS*, ES*, EdDSA), inline or as a file relative to the config file. */
    publicKey: z.string().min(1).optional(),
    /** JSON Web Key Set URL. */
    jwksUrl: z.string().refine(isHttpUrl, { message: 'expected an http:// or https:// URL' }).optional(),
    /** Required `iss`. */
    issuer: z.string().min(1).optional(),
    /** Required `aud` (one of these). */
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    /** Accepted `alg` values; defaults follow the key kind. */
    algorithms: z.array(z.string().min(1)).min(1).optional(),
    tenantClaim: z.string().min(1).default('tenant'),
    userClaim: z.string().min(1).default('sub'),
    aclClaim: z.string().min(1).default('acl'),
    /** Tenant of tokens without the tenant claim; without it such tokens are refused. */
    defaultTenant: z.string().min(1).optional(),
    /** Where the token is: the password (default) or the user name. */
    from: z.enum(['password', 'username']).default('password'),
    /** Seconds of clock skew tolerated on exp/nbf/iat. */
    clockToleranceSeconds: z.number().min(0).default(0),
  })
  .strict()
  .superRefine((o, ctx) => {
    const given = [o.secret, o.publicKey, o.jwksUrl].filter((v) => v !== undefined).length;
    if (given !== 1) ctx.addIssue({ code: 'custom', path: [], message: 'give exactly one of secret, publicKey, jwksUrl' });
  });

export type JwtAuthOptions = z.output<typeof jwtAuthOptionsSchema>;

const HMAC_ALGS = ['HS256', 'HS384', 'HS512'];
const RSA_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
const EC_ALGS = ['ES256', 'ES384', 'ES512'];
const ASYMMETRIC_ALGS = [...RSA_ALGS, ...EC_ALGS, 'EdDSA'];

/** Three base64url parts: what a JWS in compact form looks like. */
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** jose error codes that mean "this token is not good" (anything else is an infrastructure failure). */
const TOKEN_ERRORS = new Set([
  joseErrors.JWTClaimValidationFailed.code,
  joseErrors.JWTExpired.code,
  joseErrors.JOSEAlgNotAllowed.code,
  joseErrors.JOSENotSupported.code,
  joseErrors.JWSInvalid.code,
  joseErrors.JWTInvalid.code,
  joseErrors.JWKSNoMatchingKey.code,
  joseErrors.JWKSMultipleMatchingKeys.code,
  joseErrors.JWSSignatureVerificationFailed.code,
]);

function algorithmsFor(key: KeyObject): string[] {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return RSA_ALGS;
    case 'rsa-pss':
      return RSA_ALGS.filter((a) => a.startsWith('PS'));
    case 'ec':
      return EC_ALGS;
    case 'ed25519':
    case 'ed448':
      return ['EdDSA'];
    default:
      return ASYMMETRIC_ALGS;
  }
}

function refused(reasonString: string): AuthResult {
  return { ok: false, reasonCode: ReasonCode.BadUserNameOrPassword, reasonString };
}

export class JwtAuthProvider implements AuthProvider {
  private readonly key: KeyObject | JWTVerifyGetKey;
  private readonly algorithms: string[];

  /** `where` names the options block in errors (e.g. `auth.providers.1`). */
  constructor(
    private readonly options: JwtAuthOptions,
    private readonly ctx: PluginContext,
    baseDir: string = process.cwd(),
    where = 'jwt',
  ) {
    if (options.secret !== undefined) {
      this.key = createSecretKey(Buffer.from(options.secret, 'utf8'));
      this.algorithms = options.algorithms ?? HMAC_ALGS;
      if (Buffer.byteLength(options.secret) < 32) ctx.logger.warn({ provider: where }, 'jwt secret is shorter than 32 bytes: easy to brute-force');
    } else if (options.publicKey !== undefined) {
      const key = loadPublicKey(options.publicKey, baseDir, where);
      this.key = key;
      this.algorithms = options.algorithms ?? algorithmsFor(key);
    } else {
      this.key = createRemoteJWKSet(new URL(options.jwksUrl!));
      this.algorithms = options.algorithms ?? ASYMMETRIC_ALGS;
    }
  }

  async authenticate(req: AuthRequest): Promise<AuthResult> {
    if (req.authMethod !== undefined) return { ok: 'skip' };
    const token = this.options.from === 'password' ? req.password?.toString('utf8') : req.username;
    if (!token || !JWT_SHAPE.test(token)) return { ok: 'skip' };
    let payload: JWTPayload;
    try {
      const verifyOptions = {
        algorithms: this.algorithms,
        currentDate: new Date(this.ctx.now()),
        clockTolerance: this.options.clockToleranceSeconds,
        ...(this.options.issuer !== undefined ? { issuer: this.options.issuer } : {}),
        ...(this.options.audience !== undefined ? { audience: this.options.audience } : {}),
      };
      // Two calls so that TypeScript picks the right overload (a key, or a key-set function).
      const r = typeof this.key === 'function' ? await jwtVerify(token, this.key, verifyOptions) : await jwtVerify(token, this.key, verifyOptions);
      payload = r.payload;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'string' && TOKEN_ERRORS.has(code)) {
        return refused(code === joseErrors.JWTExpired.code ? 'token expired' : 'invalid token');
      }
      throw err; // e.g. the JWKS endpoint cannot be reached: the failure policy decides
    }
    return this.resultOf(payload, req);
  }

  private resultOf(payload: JWTPayload, req: AuthRequest): AuthResult {
    const o = this.options;
    const tenantClaim = payload[o.tenantClaim];
    const tenantId = tenantClaim === undefined ? o.defaultTenant : tenantClaim;
    if (typeof tenantId !== 'string' || tenantId === '') return refused(`token has no string claim '${o.tenantClaim}'`);
    const userClaim = payload[o.userClaim];
    const userId = userClaim === undefined && o.from === 'password' ? req.username : userClaim;
    if (typeof userId !== 'string' || userId === '') return refused(`token has no string claim '${o.userClaim}'`);
    const result: AuthResult = { ok: true, tenantId, userId };
    const aclClaim = payload[o.aclClaim];
    if (aclClaim !== undefined) {
      const acl = aclSchema.safeParse(aclClaim);
      if (!acl.success) return refused(`token claim '${o.aclClaim}' is not a list of access rules`);
      result.acl = acl.data;
    }
    // The tolerance that let the token in also covers the connection: it ends at exp plus the skew.
    if (typeof payload.exp === 'number') result.expiresAt = (payload.exp + o.clockToleranceSeconds) * 1000;
    return result;
  }
}

function loadPublicKey(value: string, baseDir: string, where: string): KeyObject {
  let pem = value;
  if (!value.includes('-----BEGIN')) {
    try {
      pem = readFileSync(resolve(baseDir, value), 'utf8');
    } catch (err) {
      throw new RatatoskError('RTK_CONFIG_INVALID', `${where}.publicKey: ${(err as Error).message}`);
    }
  }
  try {
    return createPublicKey(pem);
  } catch (err) {
    throw new RatatoskError('RTK_CONFIG_INVALID', `${where}.publicKey: not a PEM public key or certificate (${(err as Error).message})`);
  }
}
