-- Store one log entry, once. ARGV: prefix, session id, client message id ('' for none),
-- conversation id, required state ('' for any), required agent ('' for any), event JSON to
-- publish ('' for none), retention in seconds, then field/value pairs of the entry.
-- Returns {id, 0} when stored, {id, 1} when this client id was already stored (a resend),
-- {'', 2} when the conversation is not in the required state (e.g. no longer the agent's).
local sid, cmid, cid, need_state, need_agent, event = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local retention = tonumber(ARGV[8])
local cmids = K.client_ids(sid)
if cmid ~= '' then
  local existing = redis.call('HGET', cmids, cmid)
  if existing then
    return {existing, 1}
  end
end
if need_state ~= '' then
  local c = redis.call('HMGET', K.conversation(cid), 'state', 'agent')
  if c[1] ~= need_state or (need_agent ~= '' and c[2] ~= need_agent) then
    return {'', 2}
  end
end
local fields = {}
for i = 9, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
local log = K.log(sid)
local id = redis.call('XADD', log, 'MAXLEN', '~', LOG_MAX, '*', unpack(fields))
redis.call('EXPIRE', log, retention)
if cmid ~= '' then
  remember_cmid(sid, cmid, id, retention)
end
if cid ~= '' then
  -- The idle timeout measures from the last line said (the janitor reads it); the counts of
  -- lines per speaker feed the statistics (n_shopper, n_bot, n_agent, n_system).
  local conv = K.conversation(cid)
  redis.call('HSET', conv, 'last_activity', string.match(id, '^(%d+)'))
  for i = 9, #ARGV, 2 do
    if ARGV[i] == 'f' then
      redis.call('HINCRBY', conv, 'n_' .. ARGV[i + 1], 1)
      if ARGV[i + 1] == 'shopper' and redis.call('HGET', conv, 'state') == 'assigned' then
        -- Shopper lines while an agent holds the chat: the agents' replies are measured on these.
        redis.call('HINCRBY', conv, 'n_shopper_live', 1)
      end
    end
  end
end
if event ~= '' then
  local ev = cjson.decode(event)
  ev['entry_id'] = id
  redis.call('PUBLISH', K.events, cjson.encode(ev))
end
return {id, 0}
