-- Set an agent's status and, optionally, capacity. ARGV: prefix, agent id, status
-- (online|away|offline|'' to keep), capacity ('' to keep).
local aid, status, capacity = ARGV[2], ARGV[3], ARGV[4]
local agent = K.agent(aid)
if redis.call('EXISTS', agent) == 0 then
  return result({status = 'missing'})
end
if status ~= '' then
  redis.call('HSET', agent, 'status', status)
  if status == 'online' then
    redis.call('SADD', K.agents_online, aid)
    redis.call('SADD', K.agents_present, aid)
  elseif status == 'away' then
    redis.call('SREM', K.agents_online, aid)
    redis.call('SADD', K.agents_present, aid)
  else
    redis.call('SREM', K.agents_online, aid)
    -- An offline agent may still finish its chats: the janitor keeps watching it until then.
    if redis.call('SCARD', K.agent_conversations(aid)) == 0 then
      redis.call('SREM', K.agents_present, aid)
    end
  end
end
if capacity ~= '' then
  redis.call('HSET', agent, 'capacity', capacity)
end
local now = now_ms()
drain(now)
if status ~= '' and status ~= 'online' then
  release_unserved(now)
end
local a = redis.call('HMGET', agent, 'status', 'capacity')
return result({status = a[1], capacity = tonumber(a[2]) or 0,
               active = redis.call('SCARD', K.agent_conversations(aid))})
