/**
 * Where each tenant's settings come from: defaults, the config file's `tenants.default` block, the
 * tenant's own block, then whatever a setting provider returns. Merged snapshots are cached until
 * the sources change.
 */
import { mergeSettings, type TenantSettings, type TenantSettingsPatch } from './settings';

export class SettingsSource {
  private readonly cache = new Map<string, TenantSettings>();
  private providerPatches = new Map<string, TenantSettingsPatch>();

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

  /** Tenants that have settings from the setting provider. */
  providerTenants(): IterableIterator<string> {
    return this.providerPatches.keys();
  }

  /** Replaces the config-file blocks (config reload). */
  setFileBlocks(blocks: Record<string, TenantSettingsPatch>): void {
    this.fileBlocks = blocks;
    this.cache.clear();
  }

  /** Sets what a setting provider returned for a tenant (undefined clears it). `default` applies to all. */
  setProviderPatch(tenantId: string, patch: TenantSettingsPatch | undefined): void {
    if (patch) this.providerPatches.set(tenantId, patch);
    else this.providerPatches.delete(tenantId);
    if (tenantId === 'default') this.cache.clear();
    else this.cache.delete(tenantId);
  }
}
