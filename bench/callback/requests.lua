-- wrk script of bench/callback.sh: each thread sends its share of the
-- pre-generated requests (signed, encrypted, one unique MsgId each; a file
-- of "TARGET<TAB>BODY" lines made by `callback gen`), in order. Run as
--   wrk -s bench/callback/requests.lua URL -- FILE
-- A thread that reaches the end of its share starts over: those requests
-- are then re-sends of callbacks already answered (WeChat's retries), so
-- the script prints how many requests each thread sent against its share.
local threads = {}
local nthreads = 0

function setup(thread)
	thread:set("tid", nthreads)
	nthreads = nthreads + 1
	table.insert(threads, thread)
end

function init(args)
	local file = args[1]
	reqs = {}
	local i = 0
	local total = tonumber(args[2]) or 1
	for line in io.lines(file) do
		if i % total == tid then
			local tab = line:find("\t", 1, true)
			reqs[#reqs + 1] = wrk.format("POST", line:sub(1, tab - 1), { ["Content-Type"] = "text/xml" }, line:sub(tab + 1))
		end
		i = i + 1
	end
	share = #reqs
	idx = 0
	sent = 0
end

function request()
	idx = idx + 1
	sent = sent + 1
	if idx > #reqs then
		idx = 1
	end
	return reqs[idx]
end

function done(summary, latency, requests)
	for _, t in ipairs(threads) do
		io.write(string.format("thread %d: sent %d of a share of %d unique requests\n", t:get("tid"), t:get("sent"), t:get("share")))
	end
end
