-- An agent hands a conversation to another skill group, transcript kept. ARGV: prefix,
-- conversation id, agent id (must own it), target group.
local cid, aid, group = ARGV[2], ARGV[3], ARGV[4]
local conv = K.conversation(cid)
local c = redis.call('HMGET', conv, 'state', 'agent', 'group', 'session')
if c[1] ~= 'assigned' or c[2] ~= aid then
  return result({status = 'not_yours'})
end
if not online_in_group(group) then
  return result({status = 'no_agents'})
end
local now = now_ms()
redis.call('SREM', K.agent_conversations(aid), cid)
redis.call('HINCRBY', conv, 'transfers', 1)
enqueue(cid, group, head_score(group), now)
local tid = log_event(c[4], cid, 'transferred', {agent_id = aid, group = group})
publish({event = 'transferred', conversation_id = cid, session_id = c[4], agent_id = aid, from_group = c[3],
         group = group, entry_id = tid})
return settle(cid, c[4], group, now)
