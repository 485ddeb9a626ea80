/**
 * The `cert` provider: the TLS client certificate is the credential. The user comes from the
 * subject CN or a subject alternative name, the tenant from the subject O or OU, from a URI SAN
 * with a given prefix (e.g. `urn:ratatosk:tenant:acme`), or is fixed.
 *
 * Answers: no certificate (or MQTT 5 enhanced authentication): no opinion (skip). A certificate that does not chain to the listener's
 * CA while `requireAuthorized` is on: 0x86 (the credential is bad). A trusted certificate without
 * the field that names the user or the tenant: 0x87 (the credential is good but grants nothing).
 */
import { z } from 'zod';
import { ReasonCode } from '../codec/reason-codes';
import type { AuthProvider, AuthRequest, AuthResult, ClientCertificate } from '../plugins/types';

export const certAuthOptionsSchema = z
  .object({
    userFrom: z.enum(['cn', 'san-dns', 'san-uri', 'san-email']).default('cn'),
    tenantFrom: z
      .string()
      .regex(/^(o|ou|san-uri-prefix:.+|fixed:.+)$/, { message: "expected 'o', 'ou', 'san-uri-prefix:<prefix>' or 'fixed:<tenant>'" })
      .default('o'),
    requireAuthorized: z.boolean().default(true),
  })
  .strict();

export type CertAuthOptions = z.output<typeof certAuthOptionsSchema>;

/** The first SAN of a kind (`DNS:`, `URI:`, `email:`), without its prefix. */
function san(cert: ClientCertificate, kind: string): string | undefined {
  const prefix = `${kind}:`;
  for (const s of cert.subjectAltNames) {
    if (s.startsWith(prefix) && s.length > prefix.length) return s.slice(prefix.length);
  }
  return undefined;
}

/** A subject field (the first value when the certificate repeats it: client-certificate.ts). */
function field(rec: Record<string, string>, name: string): string | undefined {
  const v = rec[name];
  return v === '' ? undefined : v;
}

export function userOf(cert: ClientCertificate, from: CertAuthOptions['userFrom']): string | undefined {
  switch (from) {
    case 'cn':
      return field(cert.subject, 'CN');
    case 'san-dns':
      return san(cert, 'DNS');
    case 'san-uri':
      return san(cert, 'URI');
    case 'san-email':
      return san(cert, 'email');
  }
}

export function tenantOf(cert: ClientCertificate, from: string): string | undefined {
  if (from === 'o') return field(cert.subject, 'O');
  if (from === 'ou') return field(cert.subject, 'OU');
  if (from.startsWith('fixed:')) return from.slice('fixed:'.length);
  const prefix = from.slice('san-uri-prefix:'.length);
  for (const s of cert.subjectAltNames) {
    if (!s.startsWith('URI:')) continue;
    const uri = s.slice(4);
    if (uri.startsWith(prefix) && uri.length > prefix.length) return uri.slice(prefix.length);
  }
  return undefined;
}

export class CertAuthProvider implements AuthProvider {
  constructor(private readonly options: CertAuthOptions) {}

  authenticate(req: AuthRequest): AuthResult {
    const cert = req.conn.certificate;
    // No certificate, or MQTT 5 enhanced authentication (another provider's method): no opinion.
    if (!cert || req.authMethod !== undefined) return { ok: 'skip' };
    if (this.options.requireAuthorized && !cert.authorized) {
      return { ok: false, reasonCode: ReasonCode.BadUserNameOrPassword, reasonString: 'client certificate not trusted' };
    }
    const userId = userOf(cert, this.options.userFrom);
    if (!userId) return { ok: false, reasonCode: ReasonCode.NotAuthorized, reasonString: `client certificate has no ${this.options.userFrom}` };
    const tenantId = tenantOf(cert, this.options.tenantFrom);
    if (!tenantId) return { ok: false, reasonCode: ReasonCode.NotAuthorized, reasonString: `client certificate has no tenant (${this.options.tenantFrom})` };
    return { ok: true, tenantId, userId, attrs: { certFingerprint: cert.fingerprint256, certSerial: cert.serialNumber } };
  }
}
