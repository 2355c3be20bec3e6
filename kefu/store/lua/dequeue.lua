-- The shopper stops waiting ("leave queue"): out of the queue, back with the bot; the chat
-- goes on (nothing to rate, nothing closed). ARGV: prefix, conversation id.
local cid = ARGV[2]
local state = redis.call('HGET', K.conversation(cid), 'state')
if state ~= 'queued' then
  return result({status = state or 'missing'})
end
leave_queue(cid, 'cancelled', now_ms())
return result({status = 'left'})
