-- One bot turn in one step: store the shopper's message (once per client id) and, if the
-- conversation is still with the bot, the bot's reply lines; count an unanswered question;
-- read back the log after the socket's last line, so the reply goes out with no second trip.
-- ARGV: prefix, then one JSON array (one argument, not a dozen: the client encodes each
-- argument of a command on its own, and that cost more than the script): session id,
-- conversation id, client message id, retention seconds, now (ms), shopper text, miss key
-- ('' for none), miss example, '1' when the caller has not looked at the conversation (then
-- nothing is written unless it is with the bot and no picked suggestion is being watched),
-- the socket's last log id ('' for none), lines to read back (0: none), then bot lines as
-- (text, extra JSON, decision) triples.
-- Returns {shopper line id, 1 if a resend else 0, number of bot lines written, conversation
-- state, log lines after the last id as {id, {field, value, ...}}}; the id is '' when an
-- unchecked turn found the conversation not with the bot (nothing was written).
local A = cjson.decode(ARGV[2])
local sid, cid, cmid = A[1], A[2], A[3]
local retention, now, text, miss, example = tonumber(A[4]), A[5], A[6], A[7], A[8]
local unchecked, after, count = A[9] == '1', A[10], tonumber(A[11])
local log = K.log(sid)
local cmids = K.client_ids(sid)
local conv = K.conversation(cid)
local state = redis.call('HGET', conv, 'state') or ''

local function since()
  if count == 0 then
    return {}
  end
  local start = '-'
  if after ~= '' then
    start = '(' .. after
  end
  return redis.call('XRANGE', log, start, '+', 'COUNT', count)
end

if unchecked and (state ~= 'bot' or (redis.call('HGET', conv, 'learn_pick') or '') ~= '') then
  return {'', 0, 0, state, {}}
end
local existing = redis.call('HGET', cmids, cmid)
if existing then
  return {existing, 1, 0, state, since()}
end
local id = redis.call('XADD', log, 'MAXLEN', '~', LOG_MAX, '*',
                      'c', cid, 'f', 'shopper', 't', text, 'ts', now, 'm', cmid)
remember_cmid(sid, cmid, id, retention)
redis.call('HINCRBY', conv, 'n_shopper', 1)
local written = 0
if state == 'bot' then
  for i = 12, #A, 3 do
    redis.call('XADD', log, 'MAXLEN', '~', LOG_MAX, '*',
               'c', cid, 'f', 'bot', 't', A[i], 'ts', now, 'x', A[i + 1])
    redis.call('HINCRBY', conv, 'n_bot', 1)
    redis.call('HINCRBY', conv, 'd_' .. A[i + 2], 1)
    written = written + 1
  end
  if miss ~= '' then
    count_miss(miss, example)
  end
end
redis.call('HSET', conv, 'last_activity', string.match(id, '^(%d+)'))
redis.call('EXPIRE', log, retention)
return {id, 0, written, state, since()}
