/**
 * Where each tenant's settings come from: defaults, the config file's `tenants.default` block, the
 * tenant's own block, then whatever a setting provider returns. Merged snapshots are cached until
 * the sources change.
 */
import { DEFAULT_TENANT_SETTINGS, mergeSettings, type TenantSettings, type TenantSettingsPatch } from './settings';

export class SettingsSource {
  private readonly cache = new Map<string, TenantSettings>();
  private providerPatches = new Map<string, TenantSettingsPatch>();
  private largestPacket: number | undefined = undefined;

  constructor(private fileBlocks: Record<string, TenantSettingsPatch> = {}) {}

  get(tenantId: string): TenantSettings {
    let s = this.cache.get(tenantId);
    if (!s) {
      s = mergeSettings(
        this.fileBlocks['default'],
        this.providerPatches.get('default'),
        this.fileBlocks[tenantId],
        tenantId === 'default' ? undefined : this.providerPatches.get(tenantId),
      );
      this.cache.set(tenantId, s);
    }
    return s;
  }

  /**
   * Where each of a tenant's effective settings comes from, in the order `get` merges them: the
   * built-in default, the config file's `tenants.default` block, the provider's answer for
   * `default`, the tenant's own block, the provider's answer for the tenant.
   */
  sourcesOf(tenantId: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const k of Object.keys(DEFAULT_TENANT_SETTINGS)) out[k] = 'built-in default';
    const layers: [TenantSettingsPatch | undefined, string][] = [
      [this.fileBlocks['default'], 'config tenants.default'],
      [this.providerPatches.get('default'), 'setting provider (default)'],
      [this.fileBlocks[tenantId], `config tenants.${tenantId}`],
      [tenantId === 'default' ? undefined : this.providerPatches.get(tenantId), `setting provider (${tenantId})`],
    ];
    for (const [patch, name] of layers) {
      if (patch) for (const [k, v] of Object.entries(patch)) if (v !== undefined) out[k] = name;
    }
    return out;
  }

  /**
   * The largest packet any known tenant accepts: the limit of a CONNECT, which is decoded before
   * its tenant is known (each tenant's own limit applies from its CONNACK on).
   */
  get connectPacketLimit(): number {
    if (this.largestPacket === undefined) {
      let max = this.get('default').maxPacketSize;
      for (const id of Object.keys(this.fileBlocks)) max = Math.max(max, this.get(id).maxPacketSize);
      for (const id of this.providerPatches.keys()) max = Math.max(max, this.get(id).maxPacketSize);
      this.largestPacket = max;
    }
    return this.largestPacket;
  }

  /** Tenants that have settings from the setting provider. */
  providerTenants(): IterableIterator<string> {
    return this.providerPatches.keys();
  }

  /** Replaces the config-file blocks (config reload). */
  setFileBlocks(blocks: Record<string, TenantSettingsPatch>): void {
    this.fileBlocks = blocks;
    this.cache.clear();
    this.largestPacket = undefined;
  }

  /** Sets what a setting provider returned for a tenant (undefined clears it). `default` applies to all. */
  setProviderPatch(tenantId: string, patch: TenantSettingsPatch | undefined): void {
    if (patch) this.providerPatches.set(tenantId, patch);
    else this.providerPatches.delete(tenantId);
    if (tenantId === 'default') this.cache.clear();
    else this.cache.delete(tenantId);
    this.largestPacket = undefined;
  }
}
