/** The TLS client certificate of a connection, as authentication sees it. */
import type { PeerCertificate, TLSSocket } from 'node:tls';
import type { ClientCertificate } from '../plugins/types';

/** A subject or issuer by field; a field the certificate repeats gives its first value. */
export function fieldsOf(o: object | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!o) return out;
  for (const [k, v] of Object.entries(o)) out[k] = String(Array.isArray(v) ? v[0] : v);
  return out;
}

export function clientCertificateOf(socket: TLSSocket): ClientCertificate | undefined {
  const cert: PeerCertificate = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return undefined;
  return {
    authorized: socket.authorized,
    subject: fieldsOf(cert.subject),
    issuer: fieldsOf(cert.issuer),
    subjectAltNames: cert.subjectaltname ? cert.subjectaltname.split(', ').filter(Boolean) : [],
    fingerprint256: cert.fingerprint256,
    serialNumber: cert.serialNumber,
  };
}
