/**
 * Asks the setting provider plugin for the settings of every tenant in use, every few seconds, so
 * that changes apply to new connections within seconds without a restart. An answer that does not
 * validate is logged (naming the key) and ignored; the tenant keeps its last good settings.
 */
import type { Logger } from 'pino';
import type { PluginGuard } from '../plugins/guard';
import type { SettingProvider } from '../plugins/types';
import { tenantSettingsPatchSchema, type TenantSettingsPatch } from './settings';
import type { SettingsSource } from './settings-source';
import type { TenantRegistry } from './tenant-registry';

export class SettingsRefresher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** Answers rejected by validation. */
  invalid = 0;
  /** Tenants asked at least once, and first answers still on their way. */
  private readonly asked = new Set<string>();
  private readonly first = new Map<string, Promise<void>>();

  constructor(
    private readonly provider: SettingProvider,
    private readonly source: SettingsSource,
    private readonly tenants: TenantRegistry,
    private readonly guard: PluginGuard,
    private readonly log: Logger,
    private readonly refreshSeconds: number,
  ) {}

  async start(): Promise<void> {
    await this.refreshAll();
    this.timer = setInterval(() => {
      this.running ??= this.refreshAll().finally(() => (this.running = undefined));
    }, this.refreshSeconds * 1000);
    this.timer.unref();
  }

  /** Tenants in use, plus `default` (whose block applies to every tenant). */
  async refreshAll(): Promise<void> {
    const ids = new Set<string>(['default']);
    for (const t of this.tenants.values()) ids.add(t.id);
    // Tenants without a connection right now keep a provider answer too: it must not go stale.
    for (const id of this.source.providerTenants()) ids.add(id);
    for (const id of ids) await this.refresh(id);
  }

  /**
   * For a tenant not in use (never seen, or idle since): a promise of the provider's answer (the
   * tenant's first connection waits for it, so its settings apply from the start). Undefined otherwise.
   */
  ensure(tenantId: string): Promise<void> | undefined {
    // A tenant in use is refreshed by the timer; one that was idle is asked again now.
    if (this.asked.has(tenantId) && this.tenants.find(tenantId) !== undefined) return undefined;
    let p = this.first.get(tenantId);
    if (!p) {
      p = this.refresh(tenantId).finally(() => this.first.delete(tenantId));
      this.first.set(tenantId, p);
    }
    return p;
  }

  async refresh(tenantId: string): Promise<void> {
    this.asked.add(tenantId);
    const answer = await askProvider(this.provider, this.guard, this.log, tenantId);
    if (answer === 'failed') {
      this.invalid++;
      return; // keep the last good answer
    }
    if (answer !== 'unavailable') this.source.setProviderPatch(tenantId, answer);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
    await this.provider.close?.();
  }
}

/**
 * What the setting provider says of a tenant: a validated patch, undefined (nothing of its own),
 * 'unavailable' when the call failed or timed out (logged by the guard), or 'failed' when the answer
 * does not validate (logged here, naming the key).
 */
export async function askProvider(
  provider: SettingProvider,
  guard: PluginGuard,
  log: Logger,
  tenantId: string,
): Promise<TenantSettingsPatch | undefined | 'unavailable' | 'failed'> {
  const r = await guard.callAsync('settings.settings', () => provider.settings(tenantId));
  if (!r.ok) return 'unavailable';
  if (r.value === undefined) return undefined;
  const parsed = tenantSettingsPatchSchema.safeParse(r.value);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`).join('; ');
    log.error({ tenantId, code: 'RTK_CONFIG_INVALID' }, `setting provider returned invalid settings: ${problems}`);
    return 'failed';
  }
  return parsed.data;
}
