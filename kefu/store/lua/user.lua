-- Store an account's record only if it is still the one the caller read (compare and set): a
-- password reset, a disable, a logout and a login's re-hash each start from a read, and none
-- may put back what another changed meanwhile (a reset undone, a disabled account enabled).
-- ARGV: prefix, username, the record as read, the new record.
-- Returns 1 when stored, 0 when the record changed (the caller reads it again).
local current = redis.call('HGET', K.users, ARGV[2])
if current ~= ARGV[3] then
  return 0
end
redis.call('HSET', K.users, ARGV[2], ARGV[4])
return 1
