/**
 * Topic matching: the topic index, the retained index and topicMatches() against a reference
 * matcher written straight from the specification's rules, on fixed cases and random ones.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TopicIndex } from '../../src/topic/topic-index';
import { RetainedIndex } from '../../src/retain/retained-index';
import { parseFilter, topicMatches, validateTopicName } from '../../src/topic/validate';

/** Reference matcher by levels, as section 4.7 states it. */
function reference(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false; // [MQTT-4.7.2-1]
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true; // also matches the parent level
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

const level = fc.constantFrom('a', 'b', 'c', '', '$SYS', 'dev', 'x y');
const topicArb = fc.array(level, { minLength: 1, maxLength: 5 }).map((l) => l.join('/')).filter((t) => t.length > 0);
const filterArb = fc
  .tuple(fc.array(fc.oneof(level, fc.constant('+')), { minLength: 1, maxLength: 5 }), fc.boolean())
  .map(([l, hash]) => (hash ? [...l, '#'] : l).join('/'))
  .filter((f) => f.length > 0);

const CASES: [string, string, boolean][] = [
  ['sport/tennis/player1/#', 'sport/tennis/player1', true],
  ['sport/tennis/player1/#', 'sport/tennis/player1/ranking', true],
  ['sport/tennis/player1/#', 'sport/tennis/player1/score/wimbledon', true],
  ['sport/#', 'sport', true],
  ['#', 'anything/at/all', true],
  ['sport/tennis/+', 'sport/tennis/player1', true],
  ['sport/tennis/+', 'sport/tennis/player1/ranking', false],
  ['sport/+', 'sport', false],
  ['sport/+', 'sport/', true],
  ['+/+', '/finance', true],
  ['/+', '/finance', true],
  ['+', '/finance', false],
  ['#', '$SYS/broker', false],
  ['+/monitor/Clients', '$SYS/monitor/Clients', false],
  ['$SYS/#', '$SYS/monitor/Clients', true],
  ['$SYS/monitor/+', '$SYS/monitor/Clients', true],
  ['a/b', 'a/b', true],
  ['a/b', 'a/b/c', false],
  ['a//b', 'a//b', true],
  ['a/+/b', 'a//b', true],
];

test('[MQTT-4.7.1] fixed cases from the specification, for every matcher', () => {
  for (const [filter, topic, expected] of CASES) {
    assert.equal(reference(filter, topic), expected, `reference ${filter} ~ ${topic}`);
    assert.equal(topicMatches(filter, topic), expected, `topicMatches ${filter} ~ ${topic}`);
    const idx = new TopicIndex<string>();
    const wildcard = filter.includes('+') || filter.includes('#');
    idx.add(filter, 'x', wildcard);
    assert.equal(idx.match(topic).length, expected ? 1 : 0, `index ${filter} ~ ${topic}`);
    const r = new RetainedIndex<string>();
    r.set(topic, topic);
    assert.deepEqual(r.match(filter, 10), expected ? [topic] : [], `retained ${filter} ~ ${topic}`);
  }
});

for (const cacheSize of [0, 16]) {
  test(`topic index matches like the reference on random filters and topics (cache ${cacheSize})`, () => {
    fc.assert(
      fc.property(fc.array(filterArb, { maxLength: 12 }), fc.array(topicArb, { minLength: 1, maxLength: 8 }), (filters, topics) => {
        const idx = new TopicIndex<number>({ cacheSize });
        filters.forEach((f, i) => idx.add(f, i, f.includes('+') || f.includes('#')));
        for (const t of [...topics, ...topics]) {
          const got = [...idx.match(t)].sort((a, b) => a - b);
          const want = filters.map((f, i) => (reference(f, t) ? i : -1)).filter((i) => i >= 0);
          assert.deepEqual(got, want, `topic ${t}`);
          assert.equal(topicMatches('#', t), reference('#', t));
        }
        // Remove half and check again: the cache must not serve stale results.
        filters.forEach((f, i) => {
          if (i % 2 === 0) assert.ok(idx.remove(f, i, f.includes('+') || f.includes('#')));
        });
        for (const t of topics) {
          const got = [...idx.match(t)].sort((a, b) => a - b);
          const want = filters.map((f, i) => (i % 2 === 1 && reference(f, t) ? i : -1)).filter((i) => i >= 0);
          assert.deepEqual(got, want, `after removal, topic ${t}`);
        }
        assert.equal(idx.size, filters.length - Math.ceil(filters.length / 2));
      }),
      { numRuns: 300 },
    );
  });
}

test('retained index finds what the reference finds, within the limit', () => {
  fc.assert(
    fc.property(fc.uniqueArray(topicArb, { maxLength: 15 }), filterArb, (topics, filter) => {
      const r = new RetainedIndex<string>();
      for (const t of topics) r.set(t, t);
      const want = topics.filter((t) => reference(filter, t)).sort();
      assert.deepEqual(r.match(filter, 1000).sort(), want);
      assert.equal(r.match(filter, 1).length, Math.min(1, want.length));
      for (const t of topics) r.delete(t);
      assert.equal(r.size, 0);
      assert.deepEqual(r.match(filter, 1000), []);
    }),
    { numRuns: 300 },
  );
});

test('a match result handed out is not changed by later subscriptions', () => {
  const idx = new TopicIndex<string>();
  idx.add('a/b', 'one', false);
  const first = idx.match('a/b');
  idx.add('a/b', 'two', false);
  assert.deepEqual([...first], ['one']);
  assert.deepEqual([...idx.match('a/b')].sort(), ['one', 'two']);
});

test('[MQTT-4.7.1-1] [MQTT-4.7.1-2] filter validation', () => {
  for (const bad of ['', 'a/#/b', 'a#', 'a/b#', '+a', 'a/+b', '$share/g', '$share//a', '$share/g+/a', '$share/g/']) {
    assert.equal(typeof parseFilter(bad), 'number', bad);
  }
  assert.deepEqual(parseFilter('a/+/#'), { filter: 'a/+/#', shareGroup: undefined, wildcard: true });
  assert.deepEqual(parseFilter('$share/g1/a/b'), { filter: 'a/b', shareGroup: 'g1', wildcard: false });
  assert.deepEqual(parseFilter('$share/g1/#'), { filter: '#', shareGroup: 'g1', wildcard: true });
  assert.equal(typeof parseFilter('a/b/c/d', { maxTopicLength: 100, maxTopicLevels: 3, maxLevelLength: 10 }), 'number');
  assert.equal(typeof parseFilter('abcdef', { maxTopicLength: 100, maxTopicLevels: 3, maxLevelLength: 5 }), 'number');
});

test('[MQTT-4.7.3-1] topic name validation', () => {
  assert.equal(validateTopicName('a/b'), 0);
  assert.equal(validateTopicName('/'), 0);
  assert.notEqual(validateTopicName(''), 0);
  assert.notEqual(validateTopicName('a/+'), 0);
  assert.notEqual(validateTopicName('a/#'), 0);
  assert.notEqual(validateTopicName('a/b/c', { maxTopicLength: 100, maxTopicLevels: 2, maxLevelLength: 10 }), 0);
  assert.notEqual(validateTopicName('aaaa', { maxTopicLength: 3, maxTopicLevels: 2, maxLevelLength: 10 }), 0);
});
