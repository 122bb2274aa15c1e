-- busted helper: makes the C primitives and the Lua library loadable under lua5.4.
-- RAYCAI_BUILD_DIR names the CMake build tree (default ./build).
local build = os.getenv("RAYCAI_BUILD_DIR") or "build"
local open_core, err = package.loadlib(build .. "/raycai_core.so", "luaopen_raycai_core")
if not open_core then
  error("cannot load " .. build .. "/raycai_core.so (build first, or set RAYCAI_BUILD_DIR): " .. err)
end
open_core()
package.path = "lua/?.lua;lua/?/init.lua;tests/?.lua;" .. package.path
