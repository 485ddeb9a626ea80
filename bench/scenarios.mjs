// The scenario matrix: what the generator is asked to do in each scenario, full and --quick.
// MQTT 3.1.1 and 64-byte payloads throughout.

export const SWEEP_RATES = [5_000, 10_000, 20_000, 40_000, 80_000];
export const SWEEP_P99_LIMIT_US = 10_000;
/** Tenant A's fixed rate in the noisy-neighbour scenario's busy (not flooding) case, msg/s. */
export const BUSY_RATE = 200_000;

export function scenarios(quick) {
  const d = (full, q) => String(quick ? q : full);
  return [
    {
      id: 'fanin-qos0',
      title: '1. Fan-in, QoS 0',
      what: '100 publishers on their own topics, 1 wildcard subscriber, unlimited rate',
      args: ['-P', '100', '-S', '1', '--topics', 'own', '--filter', 'wildcard', '-q', '0', '-r', '0', '-d', d(10, 2), '--warmup', d(1, 0.5)],
      metric: 'delivered msg/s',
      crossCheck: ['-P', '100', '-S', '1', '-t', 'own', '-f', 'wildcard', '-q', '0', '-r', '0', '-d', d(10, 2), '--warmup', d(1, 0.5)],
    },
    {
      id: 'fanin-qos1',
      title: '2. Fan-in, QoS 1',
      what: '100 publishers on their own topics, 1 wildcard subscriber, unlimited rate, 64 in flight per publisher',
      args: ['-P', '100', '-S', '1', '--topics', 'own', '--filter', 'wildcard', '-q', '1', '-r', '0', '-d', d(10, 2), '--warmup', d(1, 0.5)],
      metric: 'delivered msg/s',
    },
    {
      id: 'fanout-qos0',
      title: '3. Fan-out, QoS 0',
      what: '1 publisher at 1,000 msg/s to 1,000 subscribers of one topic (1,000,000 deliveries/s asked)',
      args: ['-P', '1', '-S', '1000', '--topics', 'one', '--filter', 'exact', '-q', '0', '-r', '1000', '-d', d(10, 2), '--drain', d(10, 3)],
      metric: 'deliveries/s',
    },
    {
      id: 'p2p-qos1',
      title: '4. Point-to-point, QoS 1',
      what: '1,000 publisher/subscriber pairs, 10,000 msg/s in total',
      args: ['-P', '1000', '-S', '1000', '--topics', 'own', '--filter', 'exact', '-q', '1', '-r', '10000', '-d', d(10, 2), '--warmup', d(1, 0.5)],
      metric: 'p99 latency',
    },
    {
      id: 'latency-sweep',
      title: '5. Latency sweep, point-to-point QoS 1',
      what: `1,000 pairs at ${SWEEP_RATES.map((r) => `${r / 1000}k`).join(', ')} msg/s: the highest rate with p99 < ${SWEEP_P99_LIMIT_US / 1000} ms and no loss (every rate is run until p50 passes 10 ms, loss passes 1 % or deliveries fall 10 % short)`,
      sweep: (rate) => ['-P', '1000', '-S', '1000', '--topics', 'own', '--filter', 'exact', '-q', '1', '-r', String(rate), '-d', d(5, 1), '--warmup', d(1, 0.5)],
      metric: 'highest rate with p99 < 10 ms',
    },
    {
      id: 'idle',
      title: '6. Idle connections',
      what: `${quick ? '2,000' : '10,000'} idle connections, 64 connection attempts in flight: broker RSS per connection and connect rate`,
      args: ['--idle', quick ? '2000' : '10000', '-c', '64', '-d', d(5, 1)],
      metric: 'bytes/connection',
      ratatoskExtra: quick ? [500, 3000] : [1000, 15000],
    },
    {
      id: 'persistent',
      title: '7. Persistent sessions (Ratatosk, LMDB)',
      what: 'QoS 1 publishers to offline persistent sessions (subscribed with clean session 0, then disconnected): messages durably queued per second, sync and relaxed durability; restart time with 100k queued messages',
      ratatoskOnly: true,
      args: ['-P', '10', '-S', '10', '--topics', 'own', '--filter', 'exact', '-q', '1', '-r', '0', '--offline-subs', '-d', d(10, 2), '--warmup', d(1, 0.5)],
      fill: ['-P', '100', '-S', '100', '--topics', 'own', '--filter', 'exact', '-q', '1', '-r', '0', '--offline-subs', '--count', quick ? '20000' : '100000', '-d', '600'],
      metric: 'msg/s queued',
    },
    {
      id: 'noisy-neighbour',
      title: '8. Noisy neighbour (two tenants; Mosquitto and Aedes on the same load)',
      what:
        'tenant B (`tenantB/b`): 10 publisher/subscriber pairs on their own topics, QoS 1, 1,000 msg/s in total; alone, then while tenant A (`tenantA/a`) floods ' +
        'from 100 publishers to 2 wildcard subscribers at an unlimited rate, QoS 0 and QoS 1; with the defaults (fair scheduling and automatic placement), with fair scheduling in one process only (`background.auto.enabled: false`), with `fairness: {enabled: false}` and with A named in `background.tenants`; ' +
        'Mosquitto and Aedes under the same load for reference (they have no tenants: A and B are two users of one broker)',
      metric: 'B p99 under flood ÷ B p99 alone',
      noisy: {
        // Measured: tenant B, a light fixed-rate load (its generator is started once A is flooding).
        b: ['-u', 'tenantB/b', '-P', '10', '-S', '10', '--topics', 'own', '--filter', 'exact', '-q', '1', '-r', '1000', '-d', d(10, 3), '--warmup', d(2, 1), '-v'],
        cases: [
          { id: 'alone', label: 'B alone' },
          // Control for the generator side: B alone while a background busy loop holds CPU 1 (as A's
          // generator might); B's latency should not move if sharing CPU 1 does not distort it.
          { id: 'alone-cpu1-busy', label: 'control: B alone, CPU 1 busy (background spin loop)', hog: true, configs: ['fair'] },
          // Control for the generator side under a real flood: A's generator floods a background Mosquitto
          // of its own on CPU 1 while B runs alone against Ratatosk. What B's latency gains here is
          // CPU 1's share (A's generator and its sockets' kernel work), none of it the broker's.
          { id: 'alone-flood-elsewhere', label: 'control: B alone, A floods QoS 0 into a background Mosquitto on CPU 1', floodElsewhere: floodArgs(0), configs: ['fair'] },
          // Control for heap isolation: A floods a second Ratatosk process of its own on CPU 0 while B
          // runs alone on the measured one. The two brokers share nothing but the CPU (and the
          // kernel's network work on it): what a broker per tenant, or per group of tenants, would buy.
          { id: 'alone-flood-qos0-separate', label: 'control: B alone, A floods QoS 0 into a second Ratatosk process on CPU 0', floodElsewhere: floodArgs(0), separate: true, configs: ['fair'] },
          { id: 'alone-flood-qos1-separate', label: 'control: B alone, A floods QoS 1 into a second Ratatosk process on CPU 0', floodElsewhere: floodArgs(1), separate: true, configs: ['fair'] },
          // The same, with A's broker process run as a background load (SCHED_IDLE): the kernel runs B's
          // broker the moment it has work. What a broker per tenant (group) would buy if the noisy
          // group's process were ranked last by the kernel's scheduler.
          { id: 'alone-flood-qos0-separate-low', label: 'control: B alone, A floods QoS 0 into a second Ratatosk process on CPU 0, in the background', floodElsewhere: floodArgs(0), separate: true, low: true, configs: ['fair'] },
          { id: 'alone-flood-qos1-separate-low', label: 'control: B alone, A floods QoS 1 into a second Ratatosk process on CPU 0, in the background', floodElsewhere: floodArgs(1), separate: true, low: true, configs: ['fair'] },
          { id: 'flood-qos0', label: 'B + A flooding QoS 0', flood: floodArgs(0) },
          // A busy neighbour short of a flood: A publishes QoS 0 at a fixed rate that keeps the broker
          // about 85% busy (a fixed rate comes in small reads, dearer per message than a flood's).
          { id: 'busy-qos0', label: `B + A publishing QoS 0 at a fixed ${BUSY_RATE.toLocaleString('en-US')} msg/s`, flood: floodArgs(0, BUSY_RATE) },
          { id: 'flood-qos1', label: 'B + A flooding QoS 1', flood: floodArgs(1) },
        ],
        configs: [
          { id: 'fair', label: 'default: fair scheduling and automatic placement (A moves to the background process)', config: {} },
          // Sharing inside one process only: what a tenant gets that cannot move (TLS or WebSocket clients).
          { id: 'inprocess', label: 'fair scheduling in one process (`background.auto.enabled: false`)', config: { background: { auto: { enabled: false } } } },
          { id: 'unfair', label: 'fair scheduling off', config: { fairness: { enabled: false } } },
          // Tenant A served by the broker's background process (SCHED_IDLE), its connections handed
          // over after authentication: one broker, one port, the kernel ranking A's work last.
          { id: 'background', label: 'tenant A in the background process (`background.tenants`)', config: { background: { tenants: ['tenantA'] } } },
          // Peers under the same load (their benchmark configs). They have no tenants: A and B are two
          // users of one broker, which is what sharing a Mosquitto or an Aedes between two teams means.
          { id: 'mosquitto', label: 'Mosquitto (no tenants, same load)', broker: 'mosquitto' },
          { id: 'aedes', label: 'Aedes (no tenants, same load)', broker: 'aedes' },
        ],
        // The flood generator shares CPU 1 with B's: it runs as a background load (SCHED_IDLE) with one
        // thread, so B's generator (a few % of a core) runs at once whenever it has work.
        target: { p99Ratio: 2 },
        busyRate: BUSY_RATE,
      },
    },
  ];

  /** Tenant A: 100 publishers on their own topics to 2 wildcard subscribers, unlimited (or at `rate`); stopped by SIGINT after B's run. */
  function floodArgs(qos, rate = 0) {
    // --reconnect: a broker may move A to another process (automatic placement) and close its connections.
    return ['-u', 'tenantA/a', '-P', '100', '-S', '2', '--topics', 'own', '--filter', 'wildcard', '-q', String(qos), '-r', String(rate), '-d', '600', '--warmup', d(2, 1), '--drain', '5', '--workers', '1', '--reconnect', '200', '-v'];
  }
}
