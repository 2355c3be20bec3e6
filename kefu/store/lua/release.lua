-- Close a conversation. ARGV: prefix, conversation id, closed by (agent|shopper|timeout),
-- the agent who must own it ('' when the shopper or the system closes it).
local cid, by, owner = ARGV[2], ARGV[3], ARGV[4]
local conv = K.conversation(cid)
local c = redis.call('HMGET', conv, 'state', 'agent', 'group', 'session', 'assigned_at')
if not c[1] then
  -- Its record expired (retention ran out while an agent held it, with no idle close): the
  -- agent letting go of it frees the slot it still took.
  if owner ~= '' and redis.call('SREM', K.agent_conversations(owner), cid) == 1 then
    drain(now_ms())
  end
  return result({status = 'missing'})
end
if owner ~= '' and (c[1] ~= 'assigned' or c[2] ~= owner) then
  return result({status = 'not_yours'})
end
if c[1] == 'closed' then
  return result({status = 'already_closed'})
end
local now = now_ms()
if c[1] == 'assigned' then
  redis.call('SREM', K.agent_conversations(c[2]), cid)
  local handled = (now - (tonumber(c[5]) or now)) / 1000
  redis.call('LPUSH', K.handle_times(c[3]), handled)
  redis.call('LTRIM', K.handle_times(c[3]), 0, 49)
elseif c[1] == 'queued' then
  unqueue(c[3], cid)
  redis.call('HINCRBY', conv, 'abandoned', 1)
end
redis.call('HSET', conv, 'state', 'closed', 'closed_at', now, 'closed_by', by)
redis.call('HDEL', conv, 'score')
local id = log_event(c[4], cid, 'closed', {by = by})
-- Quality inspection picks closed conversations from here (any instance, once each).
inspect_later(cid)
publish({event = 'closed', conversation_id = cid, session_id = c[4], agent_id = c[2] or '', by = by,
         previous_state = c[1], entry_id = id})
drain(now)
return result({status = 'closed', prev = c[1], agent = c[2] or ''})
