-- One bot turn in one step: store the shopper's message (once per client id) and, if the
-- conversation is still with the bot, the bot's reply lines; count an unanswered question.
-- ARGV: prefix, session id, conversation id, client message id, retention seconds, now (ms),
-- shopper text, miss key ('' for none), miss example, then bot lines as (text, extra JSON,
-- decision) triples.
-- Returns {shopper line id, 1 if a resend else 0, number of bot lines written}.
local sid, cid, cmid = ARGV[2], ARGV[3], ARGV[4]
local retention, now, text, miss, example = tonumber(ARGV[5]), ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local log = K.log(sid)
local cmids = K.client_ids(sid)
local conv = K.conversation(cid)
local existing = redis.call('HGET', cmids, cmid)
if existing then
  return {existing, 1, 0}
end
local id = redis.call('XADD', log, 'MAXLEN', '~', LOG_MAX, '*',
                      'c', cid, 'f', 'shopper', 't', text, 'ts', now, 'm', cmid)
remember_cmid(sid, cmid, id, retention)
redis.call('HINCRBY', conv, 'n_shopper', 1)
local written = 0
if redis.call('HGET', conv, 'state') == 'bot' then
  for i = 10, #ARGV, 3 do
    redis.call('XADD', log, 'MAXLEN', '~', LOG_MAX, '*',
               'c', cid, 'f', 'bot', 't', ARGV[i], 'ts', now, 'x', ARGV[i + 1])
    redis.call('HINCRBY', conv, 'n_bot', 1)
    redis.call('HINCRBY', conv, 'd_' .. ARGV[i + 2], 1)
    written = written + 1
  end
  if miss ~= '' then
    count_miss(miss, example)
  end
end
redis.call('HSET', conv, 'last_activity', string.match(id, '^(%d+)'))
redis.call('EXPIRE', log, retention)
return {id, 0, written}
