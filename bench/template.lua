-- bench/template.lua: render speed of raycai.template (moved here from template_spec: a speed
-- figure is a benchmark, not a test). Run from the source root:
--   RAYCAI_BUILD_DIR=build lua5.4 bench/template.lua [runs]
-- Prints the mean CPU time per render of 100 KB with 1,000 `| py` substitutions.
dofile("tests/support/helper.lua")  -- raycai_core.so from $RAYCAI_BUILD_DIR, package.path

local template = require "raycai.template"

local runs = tonumber(arg and arg[1]) or 50
local parts, vars = {}, { v = {} }
for i = 1, 1000 do
  vars.v[i] = { name = "value number " .. i .. " with 'quotes'" }
  parts[#parts + 1] = string.format("line %04d = {{ v.%d.name | py }}  # %s\n", i, i, string.rep("x", 70))
end
local text = table.concat(parts)
assert(template.render(text, vars))
local t0 = os.clock()
for _ = 1, runs do
  template.render(text, vars)
end
local each = (os.clock() - t0) / runs
print(string.format("template: %d bytes, 1000 substitutions: %.3f ms per render (%d runs)", #text,
  each * 1000, runs))
