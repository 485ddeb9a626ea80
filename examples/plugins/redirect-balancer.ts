/**
 * Example ClientBalancer: sends MQTT 5 clients of some tenants to another server (CONNACK with
 * Server Reference and reason code 0x9D Server moved when `permanent`, else 0x9C Use another
 * server). Other tenants connect here as usual.
 *
 *   plugins:
 *     balancer:
 *       module: ./dist/examples/plugins/redirect-balancer.js   # relative to the config file's folder
 *       config:
 *         tenants: [acme, globex]
 *         serverReference: mqtt-eu.example.com:1883
 *         permanent: false
 */
import type { ClientBalancer, ClientIdentity, PluginContext, Redirection } from '../../src/plugins/types';

export interface RedirectConfig {
  tenants: string[];
  serverReference: string;
  permanent?: boolean;
}

export class RedirectBalancer implements ClientBalancer {
  private readonly tenants: ReadonlySet<string>;
  private readonly target: Redirection;
  /** Clients sent away so far. */
  redirected = 0;

  constructor(config: RedirectConfig) {
    this.tenants = new Set(config.tenants);
    this.target = { serverReference: config.serverReference, permanent: config.permanent ?? false };
  }

  redirect(client: ClientIdentity): Redirection | undefined {
    if (!this.tenants.has(client.tenantId)) return undefined;
    this.redirected++;
    return { ...this.target };
  }
}

export function create(config: Record<string, unknown>, _ctx: PluginContext): RedirectBalancer {
  const { tenants, serverReference, permanent } = config;
  if (!Array.isArray(tenants) || !tenants.every((t) => typeof t === 'string' && t !== '')) throw new Error('tenants: expected a list of tenant ids');
  if (typeof serverReference !== 'string' || serverReference === '') throw new Error('serverReference: expected a server reference (host:port)');
  if (permanent !== undefined && typeof permanent !== 'boolean') throw new Error('permanent: expected true or false');
  return new RedirectBalancer({ tenants: tenants as string[], serverReference, permanent });
}
