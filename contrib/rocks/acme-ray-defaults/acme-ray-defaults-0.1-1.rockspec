-- A team's recipe module as a LuaRocks package (docs/recipes.md, "Sharing modules across
-- projects"). In this folder:
--   luarocks --lua-version 5.4 make --local       # into ~/.luarocks, found by raycai-run
-- A team publishing its own rock points source.url at its repository and lists its modules the
-- same way; `luarocks install --local acme-ray-defaults` then works from a rocks server.
package = "acme-ray-defaults"
version = "0.1-1"
source = { url = "git+https://example.com/acme/raycai-modules.git" }
description = {
  summary = "The acme team's defaults for raycai recipes",
  license = "Apache-2.0",
}
dependencies = { "lua >= 5.4, < 5.5" }
build = {
  type = "builtin",
  modules = { ["acme.ray_defaults"] = "acme/ray_defaults.lua" },
}
