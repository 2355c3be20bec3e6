-- Open a shopper socket in one step: resume the session a token names (refreshing its
-- lifetime), or — within the client's budget of new sessions — create a session with its
-- first conversation and the greeting. Nothing of a new session outlives `silent ttl` unless
-- the shopper says something (Sessions.spoke).
-- ARGV: prefix, token hash ('' for none), now (ms), new session id, new token hash, new
-- conversation id, lang, group, silent ttl s, token ttl s, retention s, the client's key for
-- the new-session budget, that budget, its window (ms), greeting text, greeting extra JSON,
-- the socket's last log id ('' for none), history lines to return, the socket's presence ttl (ms),
-- the signed-in customer's id ('' for an anonymous shopper: the shop's site vouched for it, the
-- caller checked the hash), that customer's display name.
-- Returns one of
--   {'limited', ms left in the window}
--   {'created', session id, conversation id, greeting line id, 1 if a token was given but had expired}
--   {'resumed', session id, current conversation {field, value, ...}, log lines after the last
--    id, newest first, at most the history count, 1 if the new token now names the session}
-- A customer has one session on every device: a socket of theirs resumes it (this browser
-- gets a token of its own, within the client's budget of new sessions), or — signed in in the
-- middle of a chat — makes this browser's session theirs, or creates it. A customer's session
-- is never resumed by an anonymous socket or another customer's (signed out, or another person
-- at the same computer): that one starts a new session.
local token_hash, now = ARGV[2], ARGV[3]
local silent_ttl, token_ttl, retention = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local presence_ms = ARGV[19]
local customer, customer_name = ARGV[20], ARGV[21]
local new_hash = ARGV[5]

local function bind(sid)
  local ckey = K.customer(customer)
  redis.call('HSET', K.session(sid), 'customer', customer, 'cname', customer_name)
  redis.call('HSET', ckey, 'session', sid, 'last', now, 'name', customer_name)
  redis.call('HSETNX', ckey, 'first', now)
  redis.call('EXPIRE', ckey, math.max(token_ttl, retention))
end

local function resume(sid, token_key, minted)
  local session = K.session(sid)
  local spoke = redis.call('HGET', session, 'spoke') or redis.call('HEXISTS', session, 'customer') == 1
  local ttl = silent_ttl
  local log_ttl = silent_ttl
  if spoke then
    ttl = token_ttl
    log_ttl = math.max(token_ttl, retention)
  end
  redis.call('SET', token_key, sid, 'EX', ttl)
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
  return {'resumed', sid, conv, redis.call('XREVRANGE', K.log(sid), '+', stop, 'COUNT', count), minted}
end

-- The session this browser's token names, if it is still there.
local token_sid = false
if token_hash ~= '' then
  token_sid = redis.call('GET', K.shopper_token(token_hash))
  if token_sid and redis.call('EXISTS', K.session(token_sid)) == 0 then
    token_sid = false
  end
end
local token_owner = token_sid and redis.call('HGET', K.session(token_sid), 'customer')

-- A new token (a new device of a customer) or a new session: within the client's budget.
local function over_budget()
  local budget, limit, window = ARGV[12], tonumber(ARGV[13]), tonumber(ARGV[14])
  local rate = K.rate('sessions', budget)
  redis.call('SET', rate, 0, 'NX', 'PX', window)
  if redis.call('INCR', rate) > limit then
    return {'limited', redis.call('PTTL', rate)}
  end
  return nil
end

-- Whether a session is in the middle of a chat: its current conversation is open, the shopper
-- has said something in it, and it moved within the last half hour. A shopper who signs in
-- then is the one who was chatting (the shop asked them to, to look up an order); an older
-- anonymous history in the same browser may be someone else's and is never handed over.
local LIVE_MS = 30 * 60 * 1000
local function chatting(sid)
  local cid = redis.call('HGET', K.session(sid), 'conv')
  if not cid then
    return false
  end
  local c = redis.call('HMGET', K.conversation(cid), 'state', 'n_shopper', 'last_activity')
  return c[1] and c[1] ~= 'closed' and tonumber(c[2] or 0) > 0
    and tonumber(now) - tonumber(c[3] or 0) <= LIVE_MS
end

if customer ~= '' then
  local mine = redis.call('HGET', K.customer(customer), 'session')
  if mine and redis.call('EXISTS', K.session(mine)) == 0 then
    mine = false
  end
  if token_sid and token_owner == customer and (not mine or token_sid == mine) then
    bind(token_sid)
    return resume(token_sid, K.shopper_token(token_hash), 0)
  end
  if token_sid and not token_owner and chatting(token_sid) then
    -- Signed in mid-chat: the chat goes on, and this session is theirs from now on.
    bind(token_sid)
    return resume(token_sid, K.shopper_token(token_hash), 0)
  end
  if mine then
    local limited = over_budget()
    if limited then
      return limited
    end
    bind(mine)
    return resume(mine, K.shopper_token(new_hash), 1)
  end
elseif token_sid and not token_owner then
  return resume(token_sid, K.shopper_token(token_hash), 0)
end

local limited = over_budget()
if limited then
  return limited
end

local sid, cid, lang, group = ARGV[4], ARGV[6], ARGV[7], ARGV[8]
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
if customer ~= '' then
  bind(sid)
  redis.call('EXPIRE', session, token_ttl)
  redis.call('EXPIRE', K.shopper_token(new_hash), token_ttl)
end
local expired = 0
if token_hash ~= '' and not token_owner then
  expired = 1
end
return {'created', sid, cid, id, expired}
