-- luacheck configuration (Debian's lua-check): `luacheck lua recipes tests`
std = "lua54"
files["tests/**/*_spec.lua"] = { std = "+busted" }
files["recipes/spec/*_spec.lua"] = { std = "+busted" }
files["tests/support/helper.lua"] = { std = "+busted" }
-- recipes run in raycai's sandbox, which provides the same names as lua54 (minus io and os.execute)
exclude_files = { "build*/**", "tests/fixtures/recipes/**" }  -- fixtures are broken on purpose
max_line_length = 130
