/** The TLS client certificate of a connection, as authentication sees it. */
import type { PeerCertificate, TLSSocket } from 'node:tls';
import type { ClientCertificate } from '../plugins/types';

function flatten(o: object | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!o) return out;
  for (const [k, v] of Object.entries(o)) out[k] = Array.isArray(v) ? v.join(',') : String(v);
  return out;
}

export function clientCertificateOf(socket: TLSSocket): ClientCertificate | undefined {
  const cert: PeerCertificate = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return undefined;
  return {
    authorized: socket.authorized,
    subject: flatten(cert.subject),
    issuer: flatten(cert.issuer),
    subjectAltNames: cert.subjectaltname ? cert.subjectaltname.split(', ').filter(Boolean) : [],
    fingerprint256: cert.fingerprint256,
    serialNumber: cert.serialNumber,
  };
}
