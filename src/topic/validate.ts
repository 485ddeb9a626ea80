/**
 * Topic names and topic filters: validation and `$share` parsing (MQTT 5 sections 4.7 and 4.8).
 * Results are MQTT 5 reason codes; 0 means valid.
 */
import { ReasonCode } from '../codec/reason-codes';

export interface TopicLimits {
  /** Maximum length of a topic name or filter, in UTF-16 code units (cheap to check; never more than the UTF-8 length). */
  maxTopicLength: number;
  maxTopicLevels: number;
  maxLevelLength: number;
}

export const DEFAULT_TOPIC_LIMITS: TopicLimits = {
  maxTopicLength: 65535,
  maxTopicLevels: 128,
  maxLevelLength: 65535,
};

/** The topic limits of a tenant's settings (one object per settings snapshot, shared by its connections). */
const limitsBySettings = new WeakMap<object, TopicLimits>();

export function topicLimitsOf(s: { maxTopicLength: number; maxTopicLevels: number; maxTopicLevelLength: number }): TopicLimits {
  let limits = limitsBySettings.get(s);
  if (!limits) {
    limits = { maxTopicLength: s.maxTopicLength, maxTopicLevels: s.maxTopicLevels, maxLevelLength: s.maxTopicLevelLength };
    limitsBySettings.set(s, limits);
  }
  return limits;
}

const SLASH = 0x2f;
const PLUS = 0x2b;
const HASH = 0x23;

/** Returns 0 if `topic` is a valid topic name (no wildcards, not empty, within limits), else 0x90. */
export function validateTopicName(topic: string, limits: TopicLimits = DEFAULT_TOPIC_LIMITS): number {
  const len = topic.length;
  if (len === 0 || len > limits.maxTopicLength) return ReasonCode.TopicNameInvalid;
  let levels = 1;
  let levelStart = 0;
  for (let i = 0; i < len; i++) {
    const c = topic.charCodeAt(i);
    if (c === PLUS || c === HASH) return ReasonCode.TopicNameInvalid;
    if (c === SLASH) {
      if (i - levelStart > limits.maxLevelLength) return ReasonCode.TopicNameInvalid;
      levels++;
      levelStart = i + 1;
    }
  }
  if (len - levelStart > limits.maxLevelLength) return ReasonCode.TopicNameInvalid;
  if (levels > limits.maxTopicLevels) return ReasonCode.TopicNameInvalid;
  return 0;
}

export interface ParsedFilter {
  /** The filter without a `$share/<group>/` prefix. */
  filter: string;
  /** Share name of a `$share/<group>/<filter>` subscription. */
  shareGroup: string | undefined;
  /** True when the filter has `+` or `#`. */
  wildcard: boolean;
}

/**
 * Validates a topic filter (wildcards only as whole levels, `#` last) and splits off `$share/group/`.
 * Returns the parsed filter or a reason code (0x8F Topic Filter Invalid).
 */
export function parseFilter(raw: string, limits: TopicLimits = DEFAULT_TOPIC_LIMITS): ParsedFilter | number {
  let filter = raw;
  let shareGroup: string | undefined;
  if (raw.startsWith('$share/')) {
    const slash = raw.indexOf('/', 7);
    // [MQTT-4.8.2-1] the share name is at least one character and has no '/', '+' or '#'.
    if (slash <= 7) return ReasonCode.TopicFilterInvalid;
    shareGroup = raw.slice(7, slash);
    if (shareGroup.includes('+') || shareGroup.includes('#')) return ReasonCode.TopicFilterInvalid;
    filter = raw.slice(slash + 1);
  }
  const len = filter.length;
  if (len === 0 || len > limits.maxTopicLength) return ReasonCode.TopicFilterInvalid;
  let wildcard = false;
  let levels = 1;
  let levelStart = 0;
  for (let i = 0; i < len; i++) {
    const c = filter.charCodeAt(i);
    if (c === SLASH) {
      if (i - levelStart > limits.maxLevelLength) return ReasonCode.TopicFilterInvalid;
      levels++;
      levelStart = i + 1;
    } else if (c === PLUS) {
      // [MQTT-4.7.1-2] '+' occupies an entire level.
      if (i !== levelStart || (i + 1 < len && filter.charCodeAt(i + 1) !== SLASH)) return ReasonCode.TopicFilterInvalid;
      wildcard = true;
    } else if (c === HASH) {
      // [MQTT-4.7.1-1] '#' is the last character and occupies an entire level.
      if (i !== levelStart || i !== len - 1) return ReasonCode.TopicFilterInvalid;
      wildcard = true;
    }
  }
  if (len - levelStart > limits.maxLevelLength) return ReasonCode.TopicFilterInvalid;
  if (levels > limits.maxTopicLevels) return ReasonCode.TopicFilterInvalid;
  return { filter, shareGroup, wildcard };
}

/** Whether `topic` matches `filter` (both already valid). Used for retained lookup and tests. */
export function topicMatches(filter: string, topic: string): boolean {
  // [MQTT-4.7.2-1] wildcards at the first level do not match topics that start with '$'.
  if (topic.charCodeAt(0) === 0x24 && (filter.charCodeAt(0) === PLUS || filter.charCodeAt(0) === HASH)) return false;
  let fi = 0;
  let ti = 0;
  const fl = filter.length;
  const tl = topic.length;
  while (fi < fl) {
    const c = filter.charCodeAt(fi);
    if (c === HASH) return true; // matches the parent level and everything below it
    if (c === PLUS) {
      // consume one topic level
      while (ti < tl && topic.charCodeAt(ti) !== SLASH) ti++;
      fi++;
    } else {
      // compare literal level
      while (fi < fl && ti < tl) {
        const fc = filter.charCodeAt(fi);
        if (fc === SLASH) break;
        if (fc !== topic.charCodeAt(ti)) return false;
        fi++;
        ti++;
      }
      if (fi < fl && filter.charCodeAt(fi) !== SLASH) return false;
      if (ti < tl && topic.charCodeAt(ti) !== SLASH) return false;
    }
    // both at a '/' or at the end
    if (fi === fl) return ti === tl;
    // filter has '/': topic must too, unless the rest of the filter is '/#' which also matches the parent
    if (ti === tl) {
      return fi + 2 === fl && filter.charCodeAt(fi + 1) === HASH;
    }
    fi++;
    ti++;
  }
  return ti === tl;
}
