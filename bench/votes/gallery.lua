-- wrk script of bench/votes.sh: GET the campaign's gallery (sort by votes,
-- 20 a page) as the signed-in voters of VOTES_DIR/tokens in turn.
local dir = os.getenv("VOTES_DIR")

local tokens, path
local i = 0

function init(args)
	tokens = {}
	for l in io.lines(dir .. "/tokens") do
		if #l > 0 then
			tokens[#tokens + 1] = { ["Authorization"] = "Bearer " .. l }
		end
	end
	local f = io.open(dir .. "/campaign")
	path = "/api/mp/campaigns/" .. f:read("*l") .. "/nominations?sort=votes&limit=20"
	f:close()
end

function request()
	i = i % #tokens + 1
	return wrk.format("GET", path, tokens[i])
end
