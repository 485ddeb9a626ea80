/** The schema of access rules, as written in a users file, a JWT claim or a webhook answer. */
import { z } from 'zod';
import { parseFilter } from '../topic/validate';

/** One access rule as written in a file, a token or a webhook answer. */
export const aclRuleSchema = z
  .object({
    action: z.enum(['publish', 'subscribe', 'pubsub']),
    topic: z
      .string()
      .min(1)
      .refine((t) => !t.startsWith('$share/'), { message: 'a rule applies to the filter without $share/<group>/' })
      .refine((t) => typeof parseFilter(t) !== 'number', { message: 'not a valid topic filter' }),
    allow: z.boolean(),
  })
  .strict();

export const aclSchema = z.array(aclRuleSchema);

