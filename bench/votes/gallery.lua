-- wrk script of bench/votes.sh: GET the campaign's gallery (sort by votes,
-- 20 a page) as the signed-in voters of VOTES_DIR/tokens in turn, accepting
-- gzip as phones' HTTP clients do (GZIP=0: plain JSON).
local dir = os.getenv("VOTES_DIR")

local tokens, path
local i = 0

function init(args)
	tokens = {}
	for l in io.lines(dir .. "/tokens") do
		if #l > 0 then
			local h = { ["Authorization"] = "Bearer " .. l }
			if os.getenv("GZIP") ~= "0" then
				h["Accept-Encoding"] = "gzip, deflate, br"
			end
			tokens[#tokens + 1] = h
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
