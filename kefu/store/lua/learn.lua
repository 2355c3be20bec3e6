-- Learned phrasings: a shopper who clicked a suggestion votes "this question means that FAQ".
-- One vote per shopper per candidate; candidates and voters are capped; rejected candidates
-- never come back. Keys (see keys.py): learn:votes (ZSET id → shoppers), learn:data (HASH
-- id → JSON), learn:voters (HASH id → space-separated voter hashes), learn:rejected (ZSET).
-- ARGV: prefix, op ('vote' | 'retract'), candidate id, voter, JSON data (vote), now (ms),
-- max candidates, max voters kept per candidate.
-- Returns the candidate's shoppers after the change; -1 when the candidate was rejected before.
local op, id, voter = ARGV[2], ARGV[3], ARGV[4]
local votes, data, voters = K.learn_votes, K.learn_data, K.learn_voters
local max_candidates, max_voters = tonumber(ARGV[7]), tonumber(ARGV[8])

local function split(s)
  local out = {}
  for v in string.gmatch(s or '', '%S+') do
    out[#out + 1] = v
  end
  return out
end

local function forget(cid)
  redis.call('ZREM', votes, cid)
  redis.call('HDEL', data, cid)
  redis.call('HDEL', voters, cid)
end

local list = split(redis.call('HGET', voters, id))
local found = 0
for i, v in ipairs(list) do
  if v == voter then
    found = i
  end
end

if op == 'retract' then
  if found == 0 then
    return tonumber(redis.call('ZSCORE', votes, id) or 0)
  end
  table.remove(list, found)
  local left = tonumber(redis.call('ZINCRBY', votes, -1, id))
  if left <= 0 then
    forget(id)
    return 0
  end
  redis.call('HSET', voters, id, table.concat(list, ' '))
  return left
end

if redis.call('ZSCORE', K.learn_rejected, id) then
  return -1
end
if found > 0 then
  return tonumber(redis.call('ZSCORE', votes, id) or 0)
end
if #list < max_voters then
  list[#list + 1] = voter
end
redis.call('HSET', voters, id, table.concat(list, ' '))
local record = cjson.decode(ARGV[5])
local old = redis.call('HGET', data, id)
if old then
  record['first'] = cjson.decode(old)['first']
else
  record['first'] = tonumber(ARGV[6])
end
record['last'] = tonumber(ARGV[6])
redis.call('HSET', data, id, cjson.encode(record))
local count = tonumber(redis.call('ZINCRBY', votes, 1, id))
-- Over the cap: the least voted (then oldest) candidates go.
local extra = redis.call('ZCARD', votes) - max_candidates
if extra > 0 then
  for _, cid in ipairs(redis.call('ZRANGE', votes, 0, extra - 1)) do
    if cid ~= id then
      forget(cid)
    end
  end
end
return count
