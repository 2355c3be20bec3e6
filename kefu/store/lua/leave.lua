-- An agent leaves for good: logged out, disabled, password reset. Its chats go back
-- to the head of their queues at once (no grace period: nobody is coming back to them), it goes
-- offline and out of the janitor's watch, and every instance closes its sockets. ARGV: prefix,
-- agent id, reason (logout|disabled|password).
local aid, reason = ARGV[2], ARGV[3]
local now = now_ms()
local requeued = requeue_agent(aid, now)
if redis.call('EXISTS', K.agent(aid)) == 1 then
  redis.call('HSET', K.agent(aid), 'status', 'offline')
end
redis.call('SREM', K.agents_online, aid)
redis.call('SREM', K.agents_present, aid)
redis.call('DEL', K.agent_presence(aid), K.agent_live(aid))
publish({event = 'signed_out', agent_id = aid, reason = reason})
drain(now)
release_unserved(now)
return result({requeued = requeued})
