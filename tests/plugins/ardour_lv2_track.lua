-- Runs the avgraph LV2 plugin on real tracks inside a headless Ardour 7
-- session (driven by real_hosts.sh through ardour7-lua).
--
-- Usage: ardour7-lua -X ardour_lv2_track.lua <plugin-uri> <session-dir>
--
-- Users put avgraph on a track in their DAW and expect the audio to come out
-- untouched while the scene analysis runs beside it. So this script does what
-- a user does: it opens a session on Ardour's Dummy engine (whose "Sine Wave"
-- device feeds every physical input with a -18 dBFS sine), adds a stereo and
-- a mono audio track listening to that input, inserts avgraph by URI and
-- rolls the transport. It then compares each track's meter at the track input
-- with its meter after avgraph and the fader (unity), which only agree when
-- avgraph really ran and passed the signal through unchanged. Any failed
-- check raises a Lua error, which makes ardour7-lua exit non-zero.

local uri = arg[1]
local session_dir = arg[2]
assert(uri and session_dir, "usage: ardour_lv2_track.lua <plugin-uri> <session-dir>")

local function check(ok, what)
	if not ok then
		error("check failed: " .. what, 2)
	end
	print("ardour: ok: " .. what)
end

-- The Dummy backend needs no audio hardware, no JACK and no X display, so the
-- test behaves the same on a developer laptop and on a CI machine.
local backend = AudioEngine:set_backend("None (Dummy)", "", "")
check(backend ~= nil, "Dummy audio backend selected")
-- A known, steady input signal makes "audio passes through unchanged" testable.
check(backend:set_device_name("Sine Wave") == 0, "Dummy device 'Sine Wave' selected")

local rate = 48000
local session = create_session(session_dir, "avgraph_host_test", rate)
check(session ~= nil, "session created in " .. session_dir)

-- Peak level (dBFS) of each of the first n channels at the track's meter point.
local function meter_db(track, n)
	local levels = {}
	for c = 0, n - 1 do
		levels[c + 1] = track:peak_meter():meter_level(c, ARDOUR.MeterType.MeterPeak)
	end
	return levels
end

local function fmt_db(levels)
	local parts = {}
	for i, v in ipairs(levels) do parts[i] = string.format("%.3f", v) end
	return table.concat(parts, "/")
end

-- One stereo and one mono track: the plugin supports both layouts and Ardour
-- adapts its routing differently for each.
local layouts = { { name = "avgraph stereo", inputs = 2 }, { name = "avgraph mono", inputs = 1 } }
local tracks = {}

for _, layout in ipairs(layouts) do
	local tl = Session:new_audio_track(layout.inputs, 2, nil, 1, layout.name,
		ARDOUR.PresentationInfo.max_order, ARDOUR.TrackMode.Normal, true)
	check(tl:size() == 1, layout.name .. ": track created")
	local track = tl:front()
	check(track:n_inputs():n_audio() == layout.inputs,
		layout.name .. ": track has " .. layout.inputs .. " audio input(s)")
	-- Listen to the live input (the Dummy sine) instead of the empty playlist.
	track:monitoring_control():set_value(ARDOUR.MonitorChoice.MonitorInput, PBD.GroupControlDisposition.NoGroup)

	local proc = ARDOUR.LuaAPI.new_plugin(Session, uri, ARDOUR.PluginType.LV2, "")
	check(not proc:isnil(), layout.name .. ": Ardour instantiated LV2 " .. uri)
	check(track:add_processor_by_index(proc, 0, nil, true) == 0, layout.name .. ": plugin inserted on the track")

	local insert = proc:to_insert()
	local plugin = insert:plugin(0)
	check(insert:type() == ARDOUR.PluginType.LV2, layout.name .. ": insert is an LV2 plugin")
	check(plugin:name() == "avgraph", layout.name .. ": plugin name is '" .. plugin:name() .. "'")
	check(plugin:unique_id() == uri, layout.name .. ": plugin URI is " .. plugin:unique_id())
	check(track:nth_plugin(0):to_insert() == insert, layout.name .. ": plugin is the track's first insert")
	check(proc:active(), layout.name .. ": plugin is active")
	print(string.format("ardour: %s: plugin streams in %d -> out %d (plugin's own: %d in)", layout.name,
		insert:input_streams():n_audio(), insert:output_streams():n_audio(),
		insert:natural_input_streams():n_audio()))

	-- Meter the track input first; after rolling we move the meter after the
	-- plugin and the fader to compare.
	track:set_meter_point(ARDOUR.MeterPoint.MeterInput)
	table.insert(tracks, { name = layout.name, track = track, insert = insert, proc = proc, inputs = layout.inputs })
end

local start_sample = Session:transport_sample()
Session:request_roll(ARDOUR.TransportRequestSource.TRS_UI)
-- The plugin loads its analysis preset on a worker thread (~1 s); the audio
-- path must keep flowing meanwhile, so measure while that happens and after.
ARDOUR.LuaAPI.usleep(1500000)

for _, t in ipairs(tracks) do
	t.input_db = meter_db(t.track, t.inputs)
	t.track:set_meter_point(ARDOUR.MeterPoint.MeterPostFader)
end
ARDOUR.LuaAPI.usleep(1500000)

check(Session:transport_rolling(), "transport is rolling")
local rolled = Session:transport_sample() - start_sample
print(string.format("ardour: transport rolled %d samples (%.2f s at %d Hz)", rolled, rolled / rate, rate))
check(rolled >= 2 * rate, "engine processed at least 2 s of audio")

for _, t in ipairs(tracks) do
	-- Both tracks have stereo outputs; a mono input feeds both sides.
	local output_db = meter_db(t.track, 2)
	print(string.format("ardour: %s: input peak %s dBFS, after avgraph %s dBFS",
		t.name, fmt_db(t.input_db), fmt_db(output_db)))
	-- -18 dBFS is what the Dummy sine delivers; a level near it proves that
	-- the track really received the signal, so the comparison below means something.
	local input_ok, same = true, true
	for c, v in ipairs(t.input_db) do input_ok = input_ok and v > -30 end
	for c, v in ipairs(output_db) do
		same = same and math.abs(v - t.input_db[math.min(c, #t.input_db)]) < 0.1
	end
	check(input_ok, t.name .. ": track input carries the test signal")
	check(same, t.name .. ": audio after avgraph matches the input (unity pass-through)")
	-- get_stats reports the time spent in the plugin's run() and only
	-- succeeds once Ardour has timed enough process cycles of it.
	local have_stats, st = t.insert:get_stats(0, 0, 0, 0)
	check(have_stats, t.name .. ": Ardour timed the plugin's process cycles")
	print(string.format("ardour: %s: plugin DSP time per cycle min %d us, max %d us, avg %.1f us",
		t.name, st[1], st[2], st[3]))
	check(t.proc:active(), t.name .. ": plugin still active after processing")
end

Session:request_stop(false, false, ARDOUR.TransportRequestSource.TRS_UI)
ARDOUR.LuaAPI.usleep(200000)
close_session()
print("ardour: session closed")
print("AVGRAPH_ARDOUR_LV2_TRACK_OK")
