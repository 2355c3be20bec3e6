-- Open a shopper socket in one step: resume the session a token names (refreshing its
-- lifetime), or — within the client's budget of new sessions — create a session with its
-- first conversation and the greeting. Nothing of a new session outlives `silent ttl` unless
-- the shopper says something (Sessions.spoke).
-- ARGV: prefix, token hash ('' for none), now (ms), new session id, new token hash, new
-- conversation id, lang, group, silent ttl s, token ttl s, retention s, the client's key for
-- the new-session budget, that budget, its window (ms), greeting text, greeting extra JSON,
-- the socket's last log id ('' for none), history lines to return, the socket's presence ttl (ms).
-- Returns one of
--   {'limited', ms left in the window}
--   {'created', session id, conversation id, greeting line id, 1 if a token was given but had expired}
--   {'resumed', session id, current conversation {field, value, ...}, log lines after the last
--    id, newest first, at most the history count}
local token_hash, now = ARGV[2], ARGV[3]
local silent_ttl, token_ttl, retention = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local presence_ms = ARGV[19]

if token_hash ~= '' then
  local token_key = K.shopper_token(token_hash)
  local sid = redis.call('GET', token_key)
  local session = sid and K.session(sid)
  if sid and redis.call('EXISTS', session) == 1 then
    local spoke = redis.call('HGET', session, 'spoke')
    local ttl = silent_ttl
    local log_ttl = silent_ttl
    if spoke then
      ttl = token_ttl
      log_ttl = math.max(token_ttl, retention)
    end
    redis.call('EXPIRE', token_key, ttl)
    redis.call('EXPIRE', session, ttl)
    redis.call('EXPIRE', K.log(sid), log_ttl)
    redis.call('SET', K.shopper_presence(sid), '1', 'PX', presence_ms)
    local cid = redis.call('HGET', session, 'conv')
    local conv = {}
    if cid then
      conv = redis.call('HGETALL', K.conversation(cid))
    end
    local after, count = ARGV[17], tonumber(ARGV[18])
    local stop = '-'
    if after ~= '' then
      stop = '(' .. after
    end
    return {'resumed', sid, conv, redis.call('XREVRANGE', K.log(sid), '+', stop, 'COUNT', count)}
  end
end

local budget, limit, window = ARGV[12], tonumber(ARGV[13]), tonumber(ARGV[14])
local rate = K.rate('sessions', budget)
redis.call('SET', rate, 0, 'NX', 'PX', window)
if redis.call('INCR', rate) > limit then
  return {'limited', redis.call('PTTL', rate)}
end

local sid, new_hash, cid, lang, group = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local session = K.session(sid)
redis.call('HSET', session, 'created', now, 'lang', lang, 'th', new_hash, 'conv', cid)
redis.call('EXPIRE', session, silent_ttl)
redis.call('SET', K.shopper_token(new_hash), sid, 'EX', silent_ttl)
-- Not in the shop's conversation index yet: a page view is no conversation until the shopper
-- says something.
local conv = K.conversation(cid)
redis.call('HSET', conv, 'id', cid, 'session', sid, 'state', 'bot', 'group', group, 'created', now,
           'lang', lang)
local log = K.log(sid)
local id = redis.call('XADD', log, 'MAXLEN', '~', LOG_MAX, '*',
                      'c', cid, 'f', 'bot', 't', ARGV[15], 'ts', now, 'x', ARGV[16])
redis.call('HSET', conv, 'last_activity', string.match(id, '^(%d+)'), 'n_bot', 1)
redis.call('EXPIRE', conv, silent_ttl)
redis.call('EXPIRE', log, silent_ttl)
redis.call('SET', K.shopper_presence(sid), '1', 'PX', presence_ms)
local expired = 0
if token_hash ~= '' then
  expired = 1
end
return {'created', sid, cid, id, expired}
