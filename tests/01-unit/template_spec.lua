-- raycai.template: the language, its errors, and round trips of | py, | sh and | json through
-- the real python3 and sh.
local template = require "raycai.template"
local fs = require "raycai.fs"
local cjson = require "cjson"

local render = template.render
local FIX = "tests/fixtures/templates/"


local function hex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end


-- Run a shell command; returns its output and whether it exited 0.
local function run(cmd)
  local p = assert(io.popen(cmd .. " 2>&1", "r"))
  local out = p:read("a")
  local ok = p:close()
  return out, ok
end


-- Strings that have broken quoting somewhere: both quotes, backslashes, controls, shell
-- syntax, triple quotes, every ASCII byte, non-ASCII of every UTF-8 length, long strings.
local function hostile_strings()
  local cases = {
    "", "plain", "it's", 'say "hi"', "back\\slash", "ends with backslash\\", "\\'", "'\\",
    "\\\\'\\\\\"", "\n\r\t", "\0", "a\0b\0", "line\nbreak", "cr\rlf\r\n", "$(rm -rf /)",
    "`id`", "${HOME}", "$HOME", "'''", '"""', "'''\"\"\"'''", "x''' + '''y", "\\x00", "\\u00e9",
    "\\N{BULLET}", "{{ not a tag }}", "%s %d %%", "é", "日本", "😀", "\u{2028}\u{2029}",
    "\u{85}", "\u{feff}", "\u{80}", "\u{7ff}", "\u{800}", "\u{ffff}", "\u{10000}", "\u{10ffff}",
    "e\u{301}", "mixed 'é' \"日本\" \\ 😀 \0 end",
    string.rep("long 'quoted' \"text\" \\ é 日本 😀\n", 3000),
  }
  local all = {}
  for b = 0, 127 do
    cases[#cases + 1] = string.char(b)
    all[#all + 1] = string.char(b)
  end
  cases[#cases + 1] = table.concat(all)
  cases[#cases + 1] = table.concat(all, "", 2)
  return cases
end


-- Write text to a new file in a fresh folder; returns the file's path and the folder.
local function scratch(name, text)
  local dir = assert(fs.tempdir("tmpl-spec-"))
  local path = fs.join(dir, name)
  assert(fs.write(path, text))
  return path, dir
end


describe("raycai.template", function()
  describe("render()", function()
    it("returns text without tags unchanged", function()
      local text = "a { b } c }} d {x} '{' \"}\"\n"
      assert.equal(text, render(text, {}))
    end)

    it("substitutes names and dotted paths", function()
      assert.equal("x=1 y=deep z=w", render("x={{ x }} y={{a.b.c}} z={{  s  }}",
        { x = 1, a = { b = { c = "deep" } }, s = "w" }))
    end)

    it("indexes arrays with numeric path segments", function()
      assert.equal("b c", render("{{ list.2 }} {{ m.k.1 }}", { list = { "a", "b" }, m = { k = { "c" } } }))
    end)

    it("inserts numbers and booleans as text", function()
      assert.equal("3 2.5 true false -7", render("{{ i }} {{ f }} {{ t }} {{ ff }} {{ n }}",
        { i = 3, f = 2.5, t = true, ff = false, n = -7 }))
    end)

    it("turns \\{{ into a literal {{", function()
      assert.equal("f'{{x}}' 1", render("f'\\{{x}}' {{ v }}", { v = 1 }))
    end)

    it("does not expand tags found in values", function()
      assert.equal("{{ secret }}", render("{{ v }}", { v = "{{ secret }}", secret = "no" }))
    end)

    it("reads variables raw, never through metamethods", function()
      local vars = setmetatable({}, { __index = function() error("called") end })
      assert.same({ nil, "template:1: undefined variable 'x'" }, { render("{{ x }}", vars) })
    end)

    it("refuses function values", function()
      assert.same({ nil, "template:1: 'f' is a function (templates never call code)" },
        { render("{{ f }}", { f = print }) })
      assert.same({ nil, "template:1: 'f' is a function (templates never call code)" },
        { render("{{#if f}}x{{/if}}", { f = print }) })
      assert.same({ nil, "template:1: 'l' holds a function (templates never call code)" },
        { render("{{#each l}}x{{/each}}", { l = { print } }) })
    end)

    it("names the template in messages with opts.name", function()
      assert.same({ nil, "head.py.tmpl:2: undefined variable 'cluster.name'" },
        { render("x\n{{ cluster.name }}", {}, { name = "head.py.tmpl" }) })
    end)

    it("raises on wrong argument types", function()
      assert.has_error(function() render(nil, {}) end)
      assert.has_error(function() render("x", nil) end)
      assert.has_error(function() render("x", "vars") end)
      assert.has_error(function() render("x", {}, { name = 3 }) end)
      assert.has_error(function() render("x", {}, "opts") end)
    end)
  end)

  describe("filters", function()
    it("quotes strings for Python with | py", function()
      assert.equal([['it\'s' 'a\\b' '\n\r\t\x00\x1b\x7f' '\u00e9\u65e5\U0001f600']],
        render("{{ a | py }} {{ b | py }} {{ c | py }} {{ d | py }}",
          { a = "it's", b = "a\\b", c = "\n\r\t\0\27\127", d = "é日😀" }))
    end)

    it("renders numbers, booleans and null for Python", function()
      assert.equal("42 -9223372036854775808 0.1 1.0 -0.0 1e+300 True False None None",
        render("{{ i | py }} {{ min | py }} {{ f | py }} {{ one | py }} {{ nz | py }} " ..
          "{{ big | py }} {{ t | py }} {{ ff | py }} {{ m | default(null) | py }} {{ jn | py }}",
          { i = 42, min = math.mininteger, f = 0.1, one = 1.0, nz = -0.0, big = 1e300,
            t = true, ff = false, jn = cjson.null }))
    end)

    it("renders floats for Python exactly", function()
      local values = { 0.1, 1 / 3, 2 ^ 53 + 0.0, 1e-310, 123456.789e10, -2.5e-7 }
      for _, v in ipairs(values) do
        local s = render("{{ v | py }}", { v = v })
        assert.equal(v, tonumber(s), s)
        assert.matches("[.e]", s)
      end
    end)

    it("rejects inf and nan for Python", function()
      assert.same({ nil, "template:1: | py: 'x' is not a finite number" },
        { render("{{ x | py }}", { x = math.huge }) })
      assert.same({ nil, "template:1: | py: 'x' is not a finite number" },
        { render("{{ x | py }}", { x = 0 / 0 }) })
    end)

    it("rejects invalid UTF-8 for Python, naming the variable", function()
      local bad = {
        "\128", "a\191", "\192\128", "\193\191", "\224\128\128", "\224\159\191", "\237\160\128",
        "\237\191\191", "\240\128\128\128", "\244\144\128\128", "\245\128\128\128", "\255",
        "\230\151", "ok\226\130",
      }
      for _, s in ipairs(bad) do
        local out, err = render("\n{{ cfg.v | py }}", { cfg = { v = s } })
        assert.is_nil(out, hex(s))
        assert.matches("^template:2: | py: 'cfg%.v' is not valid UTF%-8 %(at byte %d+%)$", err)
      end
    end)

    it("rejects tables for Python", function()
      assert.same({ nil, "template:1: | py: 't' is a table (use | json | py)" },
        { render("{{ t | py }}", { t = {} }) })
    end)

    it("quotes strings and numbers for the shell with | sh", function()
      assert.equal([['a b' 'it'\''s' '' '$(x)' '3']],
        render("{{ a | sh }} {{ b | sh }} {{ c | sh }} {{ d | sh }} {{ n | sh }}",
          { a = "a b", b = "it's", c = "", d = "$(x)", n = 3 }))
    end)

    it("rejects a NUL byte for the shell", function()
      assert.same({ nil, "template:1: | sh: 'x' holds a NUL byte (at byte 2)" },
        { render("{{ x | sh }}", { x = "a\0b" }) })
    end)

    it("rejects booleans and tables for the shell", function()
      assert.same({ nil, "template:1: | sh: 'x' is a boolean, not a string or number" },
        { render("{{ x | sh }}", { x = true }) })
      assert.same({ nil, "template:1: | sh: 'x' is a table, not a string or number" },
        { render("{{ x | sh }}", { x = {} }) })
    end)

    it("encodes values as JSON with sorted keys", function()
      assert.equal([[{"a":[1,2.5,"x"],"b":{"c":true,"d":null},"e":{},"z\n":"\u00e9"}]],
        render("{{ v | json }}", { v = {
          ["z\n"] = "é", e = {}, b = { d = cjson.null, c = true }, a = { 1, 2.5, "x" },
        } }))
      assert.equal([["s" 3 true]], render("{{ s | json }} {{ n | json }} {{ t | json }}",
        { s = "s", n = 3, t = true }))
    end)

    it("rejects tables JSON cannot represent", function()
      local cyc = {}
      cyc.self = cyc
      assert.same({ nil, "template:1: | json: a table in 'v' is neither an array nor an object " ..
        "with string keys" }, { render("{{ v | json }}", { v = { 1, x = 2 } }) })
      assert.same({ nil, "template:1: | json: a table in 'v' is neither an array nor an object " ..
        "with string keys" }, { render("{{ v | json }}", { v = { [1] = 1, [3] = 3 } }) })
      assert.same({ nil, "template:1: | json: 'v' is nested more than 64 deep (a cycle?)" },
        { render("{{ v | json }}", { v = cyc }) })
      assert.same({ nil, "template:1: | json: 'v' holds a function" },
        { render("{{ v | json }}", { v = { f = print } }) })
      assert.same({ nil, "template:1: | json: 'v' holds a number that is not finite" },
        { render("{{ v | json }}", { v = { math.huge } }) })
    end)

    it("uses default() only for a missing or null value", function()
      local out = render(
        "{{ a | default(\"x\") }} {{ b | default('y') }} {{ c | default(3) }} " ..
        "{{ d | default(true) }} {{ e | default(false) }} {{ f | default(\"z\") }} " ..
        "{{ g | default(\"w\") }} {{ h | default(-1.5) }}",
        { f = "", g = cjson.null })
      assert.equal("x y 3 true false  w -1.5", out)
    end)

    it("applies filters left to right", function()
      assert.equal([['\'it\'\\\'\'s\''"]],
        render([[{{ s | sh | py }}"]], { s = "it's" }))
      assert.equal([['{"a":"\\u00e9"}']], render("{{ t | json | py }}", { t = { a = "é" } }))
      assert.equal("'dflt'", render("{{ m | default(\"dflt\") | py }}", {}))
    end)

    it("handles quotes, parentheses and braces inside default()", function()
      assert.equal([[a"b }} c) 'q']], render([[{{ x | default("a\"b }} c)") }} {{ y | default('\'q\'') }}]], {}))
    end)

    it("inserts nothing for default(null) without a filter", function()
      assert.equal("[]", render("[{{ x | default(null) }}]", {}))
    end)

    it("reports a missing variable before any filter but default", function()
      assert.same({ nil, "template:1: undefined variable 'x'" }, { render("{{ x | py }}", {}) })
      assert.same({ nil, "template:1: undefined variable 'a.b'" },
        { render("{{ a.b | json }}", { a = "not a table" }) })
    end)
  end)

  describe("blocks", function()
    it("renders {{#if}} by truth: nil, false, \"\" and {} are false", function()
      local vars = { t = true, f = false, e = "", s = "x", z = 0, et = {}, l = { 1 }, m = { k = 1 },
        n = cjson.null }
      local out = {}
      for _, k in ipairs { "t", "f", "e", "s", "z", "et", "l", "m", "n", "missing" } do
        out[#out + 1] = render("{{#if " .. k .. "}}Y{{else}}N{{/if}}", vars)
      end
      assert.equal("YNNYYNYYNN", table.concat(out))
    end)

    it("renders {{#if}} without else", function()
      assert.equal("ab", render("a{{#if x}}X{{/if}}b", {}))
      assert.equal("aXb", render("a{{#if x}}X{{/if}}b", { x = 1 }))
    end)

    it("nests {{#if}} blocks", function()
      local t = "{{#if a}}A{{#if b}}B{{else}}b{{/if}}{{else}}-{{#if b}}B{{/if}}{{/if}}"
      assert.equal("AB", render(t, { a = 1, b = 1 }))
      assert.equal("Ab", render(t, { a = 1 }))
      assert.equal("-B", render(t, { b = 1 }))
      assert.equal("-", render(t, {}))
    end)

    it("repeats {{#each}} with this, this.field and a 1-based @index", function()
      assert.equal("1:a 2:b 3:c ", render("{{#each l}}{{ @index }}:{{ this }} {{/each}}",
        { l = { "a", "b", "c" } }))
      assert.equal("x=1,y=2,", render("{{#each l}}{{ this.k }}={{ this.v }},{{/each}}",
        { l = { { k = "x", v = 1 }, { k = "y", v = 2 } } }))
    end)

    it("resolves this to the variables outside {{#each}}", function()
      assert.equal("v", render("{{ this.x }}", { x = "v" }))
    end)

    it("gives @index inside an {{#if}} within {{#each}}", function()
      assert.equal("2", render("{{#each l}}{{#if this}}{{ @index }}{{/if}}{{/each}}", { l = { false, true } }))
    end)

    it("renders nothing for an empty list", function()
      assert.equal("[]", render("[{{#each l}}x{{/each}}]", { l = {} }))
    end)

    it("resolves names against the element first, then outward", function()
      assert.equal("in/out/top;", render("{{#each outer}}{{#each inner}}{{ a }}/{{ b }}/{{ c }};{{/each}}{{/each}}",
        { c = "top", outer = { { b = "out", inner = { { a = "in" } } } } }))
      assert.equal("E T", render("{{#each l}}{{ name }} {{/each}}{{ name }}",
        { name = "T", l = { { name = "E" } } }))
    end)

    it("gives the innermost @index in nested {{#each}}", function()
      assert.equal("1.1 1.2 2.1 2.2 ",
        render("{{#each a}}{{#each b}}{{ i }}.{{ @index }} {{/each}}{{/each}}",
          { b = { 0, 0 }, a = { { i = 1 }, { i = 2 } } }))
    end)

    it("combines {{#each}} and {{#if}}", function()
      assert.equal("a,c,", render("{{#each l}}{{#if this.on}}{{ this.n }},{{/if}}{{/each}}",
        { l = { { n = "a", on = true }, { n = "b", on = false }, { n = "c", on = 1 } } }))
    end)

    it("refuses to iterate over a missing value, a string or an object", function()
      assert.same({ nil, "template:1: undefined variable 'l'" }, { render("{{#each l}}{{/each}}", {}) })
      assert.same({ nil, "template:1: 'l' is a string, {{#each}} needs an array" },
        { render("{{#each l}}{{/each}}", { l = "abc" }) })
      assert.same({ nil, "template:1: 'l' is a table with keys, {{#each}} needs an array" },
        { render("{{#each l}}{{/each}}", { l = { k = 1 } }) })
    end)

    it("drops comments", function()
      assert.equal("ab", render("a{{! a comment }}b", {}))
      assert.equal("ab", render("a{{!-- has }} inside --}}b", {}))
      assert.equal("ab", render("a{{! spans\nlines }}b", {}))
    end)
  end)

  describe("standalone lines", function()
    it("removes lines holding only a block tag, newline included", function()
      local t = "def f():\n    {{#if x}}\n    return 1\n    {{else}}\n    return 2\n    {{/if}}\n"
      assert.equal("def f():\n    return 1\n", render(t, { x = true }))
      assert.equal("def f():\n    return 2\n", render(t, {}))
    end)

    it("removes {{#each}} lines and keeps the body's indentation", function()
      local t = "L = [\n{{#each l}}\n    {{ this | py }},\n{{/each}}\n]\n"
      assert.equal("L = [\n    'a',\n    'b',\n]\n", render(t, { l = { "a", "b" } }))
    end)

    it("removes comment lines", function()
      assert.equal("a\nb\n", render("a\n  {{! note }}  \nb\n", {}))
    end)

    it("removes a standalone tag on the first and on the last line", function()
      assert.equal("x\n", render("{{#if a}}\nx\n{{/if}}", { a = 1 }))
    end)

    it("removes the whole CRLF line ending", function()
      assert.equal("x\r\ny\r\n", render("x\r\n{{#if a}}\r\ny\r\n{{/if}}\r\n", { a = 1 }))
    end)

    it("keeps lines where a block tag shares the line with text or other tags", function()
      assert.equal("  a: X\n", render("  a: {{#if x}}X{{/if}}\n", { x = 1 }))
      assert.equal("\nX\n\n", render("{{#if x}}{{#if x}}\nX\n{{/if}}{{/if}}\n", { x = 1 }))
      assert.equal("v \n", render("{{ v }} {{#if x}}\n{{/if}}\n", { v = "v", x = 1 }))
    end)

    it("never removes a line holding a variable", function()
      assert.equal("  v\n", render("  {{ v }}\n", { v = "v" }))
    end)
  end)

  describe("errors", function()
    local function err(text, vars)
      local out, e = render(text, vars or {})
      assert.is_nil(out)
      return e
    end

    it("names the line of an undefined variable", function()
      assert.equal("template:3: undefined variable 'cluster.name'", err("a\nb\nc {{ cluster.name }}\n"))
    end)

    it("names the line of an unknown filter, even in a branch not taken", function()
      assert.equal("template:2: unknown filter 'upper'", err("{{#if no}}\n{{ x | upper }}\n{{/if}}"))
    end)

    it("names the line of an unterminated tag", function()
      assert.equal("template:2: unterminated tag: '{{' without '}}' on the same line",
        err("ok\nx = {{ y\n}}\n"))
      assert.equal("template:1: unterminated tag: '{{' without '}}' on the same line", err("{{! never"))
    end)

    it("names the line of a block that is never closed", function()
      assert.equal("template:2: '{{#if a}}' is never closed", err("x\n{{#if a}}\ny\n"))
      assert.equal("template:1: '{{#each l}}' is never closed", err("{{#each l}}{{#if a}}{{/if}}"))
    end)

    it("names the line of a mismatched closing tag", function()
      assert.equal("template:3: '{{/each}}' does not match '{{#if a}}' from line 1",
        err("{{#if a}}\n\n{{/each}}"))
      assert.equal("template:1: '{{/if}}' without '{{#if}}'", err("{{/if}}"))
      assert.equal("template:2: '{{/each}}' without '{{#each}}'", err("\n{{/each}}"))
    end)

    it("names the line of a misplaced {{else}}", function()
      assert.equal("template:1: '{{else}}' outside '{{#if}}'", err("{{else}}"))
      assert.equal("template:2: '{{else}}' outside '{{#if}}'", err("{{#each l}}\n{{else}}{{/each}}"))
      assert.equal("template:3: second '{{else}}' in '{{#if}}' from line 1",
        err("{{#if a}}\n{{else}}\n{{else}}\n{{/if}}"))
    end)

    it("rejects unknown blocks, bad expressions and @index outside {{#each}}", function()
      assert.equal("template:1: unknown block '{{#with x}}'", err("{{#with x}}"))
      assert.equal("template:1: '{{#if}}' needs one variable name", err("{{#if}}{{/if}}"))
      assert.equal("template:1: '{{#if a b}}' needs one variable name", err("{{#if a b}}{{/if}}"))
      assert.equal("template:1: invalid expression '{{a b}}'", err("{{ a b }}"))
      assert.equal("template:1: invalid expression '{{x()}}'", err("{{ x() }}"))
      assert.equal("template:1: empty tag '{{}}'", err("{{  }}"))
      assert.equal("template:1: missing filter name after '|' in '{{a |}}'", err("{{ a | }}"))
      assert.equal("template:1: '@index' outside {{#each}}", err("{{ @index }}"))
      assert.equal("template:1: default needs an argument: default(\"value\")", err("{{ a | default }}"))
      assert.equal("template:1: default() needs a string, number, true, false or null, not 'bogus'",
        err("{{ a | default(bogus) }}"))
    end)

    it("refuses to insert a table as text", function()
      assert.equal("template:1: 't' is a table (insert it with | json)", err("{{ t }}", { t = {} }))
    end)

    it("limits nesting", function()
      local t = string.rep("{{#if a}}", 33) .. string.rep("{{/if}}", 33)
      assert.equal("template:1: blocks nested more than 32 deep", err(t, { a = 1 }))
      t = string.rep("{{#if a}}", 32) .. "x" .. string.rep("{{/if}}", 32)
      assert.equal("x", render(t, { a = 1 }))
    end)
  end)

  describe("check()", function()
    it("accepts a valid template without variables", function()
      assert.is_true(template.check("{{#each l}}{{ this | py }}{{/each}}"))
    end)

    it("reports syntax errors with the template name", function()
      assert.same({ nil, "t.tmpl:1: unknown filter 'nope'" }, { template.check("{{ x | nope }}", { name = "t.tmpl" }) })
    end)

    it("accepts every template shipped with raycai", function()
      local dir = "lua/raycai/templates"
      local names = assert(fs.list(dir))
      for _, name in ipairs(names) do
        if name:match("%.tmpl$") then
          local text = assert(fs.read(fs.join(dir, name)))
          assert.is_true(template.check(text, { name = name }))
        end
      end
    end)
  end)

  describe("render_file()", function()
    it("renders a file", function()
      local out = assert(template.render_file(FIX .. "greeting.py.tmpl",
        { cluster = { name = "c1" }, workers = { "w1", "w2" } }))
      assert.equal("# Generated for 'c1'\nNAME = 'c1'\nWORKERS = [\n    'w1',\n    'w2',\n]\n", out)
    end)

    it("names the file by its basename in messages", function()
      assert.same({ nil, "broken.py.tmpl:5: '{{/each}}' does not match '{{#if cluster.gpu}}' from line 3" },
        { template.render_file(FIX .. "broken.py.tmpl", {}) })
      assert.same({ nil, "greeting.py.tmpl:2: undefined variable 'cluster.name'" },
        { template.render_file(FIX .. "greeting.py.tmpl", { cluster = {} }) })
    end)

    it("returns nil and a message naming the path of a missing file", function()
      local out, err = template.render_file(FIX .. "missing.tmpl", {})
      assert.is_nil(out)
      assert.equal(FIX .. "missing.tmpl: No such file or directory", err)
    end)
  end)

  describe("round trips", function()
    local dir

    after_each(function()
      if dir then
        assert(fs.remove(dir, { recursive = true }))
        dir = nil
      end
    end)

    --- Render a Python program whose cases are hostile_strings() written through `expr` (a
    --- template expression of `this.s`), run it, and check python3 reads every case back as the
    --- original bytes. Returns the program text.
    local function python_reads_back(name, expr)
      local cases = {}
      for i, s in ipairs(hostile_strings()) do
        cases[i] = { s = s, hex = hex(s) }
      end
      local program = assert(render(([[
import json
CASES = [
{{#each cases}}
    ({{ @index }}, %s, {{ this.hex | py }}),
{{/each}}
]
bad = [i for i, s, h in CASES if s.encode("utf-8").hex() != h]
print(json.dumps({"checked": len(CASES), "bad": bad}))
]]):format(expr), { cases = cases }))
      local path
      path, dir = scratch(name, program)
      local out, ok = run("python3 " .. path)
      assert.is_true(ok, out)
      assert.same({ checked = #cases, bad = {} }, cjson.decode(out))
      return program
    end

    it("| py literals evaluate in python3 to the original strings", function()
      local program = python_reads_back("roundtrip.py", "{{ this.s | py }}")
      assert.is_nil(program:find("[\128-\255]"), "| py output must be ASCII")
    end)

    it("| sh words reach printf in sh as the original bytes", function()
      local cases, lines = {}, {}
      for _, s in ipairs(hostile_strings()) do
        if not s:find("\0", 1, true) then
          cases[#cases + 1] = s
        end
      end
      cases[#cases + 1] = "\255\254 not UTF-8 \128"
      dir = assert(fs.tempdir("tmpl-spec-"))
      for i, s in ipairs(cases) do
        lines[i] = { s = s, out = fs.join(dir, "out" .. i) }
      end
      local script = assert(render([[
{{#each lines}}
printf %s {{ this.s | sh }} > {{ this.out | sh }}
{{/each}}
]], { lines = lines }))
      assert(fs.write(fs.join(dir, "script.sh"), script))
      local out, ok = run("sh " .. fs.join(dir, "script.sh"))
      assert.is_true(ok, out)
      local bad = {}
      for i, s in ipairs(cases) do
        if fs.read(lines[i].out) ~= s then
          bad[#bad + 1] = i
        end
      end
      assert.same({}, bad)
    end)

    it("| json strings decode in python3's json.loads to the original strings", function()
      python_reads_back("roundtrip_json.py", "json.loads({{ this.s | json | py }})")
    end)

    it("| json tables read back in python3 as the same data, byte for byte", function()
      local value = {
        name = "c'1\"", list = { 1, 2, { nested = { "é", "😀", "\0\b\f\127" } } }, empty = {},
        flags = { on = true, off = false }, n = -42, none = cjson.null,
      }
      local text = assert(render("{{ v | json }}", { v = value }))
      local path
      path, dir = scratch("value.json", text)
      local out, ok = run("python3 -c 'import json,sys; " ..
        "sys.stdout.write(json.dumps(json.load(open(sys.argv[1])), sort_keys=True, separators=(\",\", \":\")))' " ..
        path)
      assert.is_true(ok, out)
      assert.equal(text, out)
    end)
  end)
end)
