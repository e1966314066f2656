-- wrk script of bench/votes.sh: POST /api/mp/nominations/:id/votes as
-- VOTES_DIR/tokens' voters, walking (voter, nomination) pairs so that no
-- pair repeats before every voter has cast 50 votes (the campaign's daily
-- limit, one vote per nomination a day): request g of all threads goes to
-- voter g mod S and the nomination (g div S mod 50 + voter) mod M. Set
-- THREADS to wrk's -t.
local dir = os.getenv("VOTES_DIR")
local threads = tonumber(os.getenv("THREADS") or "2")
local offset = tonumber(os.getenv("OFFSET") or "0") -- pairs used by earlier runs

local function lines(path)
	local t = {}
	for l in io.lines(path) do
		if #l > 0 then
			t[#t + 1] = l
		end
	end
	return t
end

local next_tid = 0
function setup(thread)
	thread:set("tid", next_tid)
	next_tid = next_tid + 1
end

local tokens, noms, headers
local counter = 0

function init(args)
	tokens = lines(dir .. "/tokens")
	noms = lines(dir .. "/nominations")
	headers = {}
	for i, t in ipairs(tokens) do
		headers[i] = { ["Authorization"] = "Bearer " .. t }
	end
end

function request()
	local g = offset + counter * threads + tid
	counter = counter + 1
	local S = #tokens
	local v = g % S
	local slot = math.floor(g / S) % 50
	local ni = (slot + v) % #noms
	return wrk.format("POST", "/api/mp/nominations/" .. noms[ni + 1] .. "/votes", headers[v + 1])
end
