import { createHash } from 'node:crypto';

/**
 * The GCRA decision of gcra.ts as one Redis script, for a batch of decisions: KEYS[i] is the
 * bucket of decision i. ARGV[1] is the interval and ARGV[2] the tolerance, in integer µs.
 * ARGV[3] is `r` to take the time from the server's TIME once for the whole batch (so
 * processes with skewed clocks agree), followed by one cost per key; `u` the same with every
 * cost 1, given by no further argument; or `c` when the caller gives the time, followed by a
 * cost and a time in µs per key (tests and replays).
 *
 * Returns one integer per key, {@link gcra}'s encoding: `>= 0` allowed (new tat - now),
 * `< 0` denied. The operations and their order are gcra()'s: integer adds and one compare,
 * exact in a double as in JavaScript, so both sides decide alike.
 *
 * Lua 5.1 prints numbers with 14 significant digits (`tostring`, and `redis.call`'s
 * arguments): a time in µs has 16, hence `string.format('%.0f')`. A key lives until its
 * bucket is full again, when it means what a missing key means; with caller times it lives
 * a minute longer, since the caller's clock need not run with the server's.
 */
export const RATE_LIMIT_SCRIPT = `
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local callerTime = ARGV[3] == 'c'
local costs = ARGV[3] == 'r'
local now = 0
local slackMs = 0
if callerTime then
  slackMs = 60000
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local out = {}
for i = 1, #KEYS do
  local cost = 1
  if callerTime then
    cost = tonumber(ARGV[2 + 2 * i])
    now = tonumber(ARGV[3 + 2 * i])
  elseif costs then
    cost = tonumber(ARGV[3 + i])
  end
  local start = tonumber(redis.call('GET', KEYS[i]) or now)
  if start < now then start = now end
  local used = start + cost * interval - now
  if used <= tolerance then
    if cost > 0 then
      redis.call('SET', KEYS[i], string.format('%.0f', now + used),
        'PX', math.ceil(used / 1000) + slackMs)
    end
    out[i] = used
  else
    out[i] = now - start - 1
  end
end
return out
`;

/** SHA-1 of {@link RATE_LIMIT_SCRIPT}, the name EVALSHA calls it by. */
export const RATE_LIMIT_SCRIPT_SHA = createHash('sha1').update(RATE_LIMIT_SCRIPT).digest('hex');
