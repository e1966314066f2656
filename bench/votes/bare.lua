-- wrk script of bench/votes.sh for the baseline: GET /healthz of the bare
-- gin server with the voters' Authorization headers in turn, so that wrk
-- does the same per-request work (a Lua request() building a request with
-- a different header each time) as in the gallery and vote runs, and the
-- ratios compare the servers rather than wrk's two modes.
local dir = os.getenv("VOTES_DIR")

local tokens
local i = 0

function init(args)
	tokens = {}
	for l in io.lines(dir .. "/tokens") do
		if #l > 0 then
			tokens[#tokens + 1] = { ["Authorization"] = "Bearer " .. l, ["Accept-Encoding"] = "gzip, deflate, br" }
		end
	end
end

function request()
	i = i % #tokens + 1
	return wrk.format("GET", "/healthz", tokens[i])
end
