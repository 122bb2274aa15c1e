-- cml-sim: project files: multipart upload (field name = destination, never overwrites),
-- listing (basenames, not paginated, root spellings, 404), download, delete, rename.
local sim = require "support.sim"


describe("cml-sim files", function()
  local s, pid, base

  setup(function()
    s = sim.start {}
    pid = s:new_project("files").id
    base = "projects/" .. pid .. "/files"
  end)

  teardown(function()
    s:stop()
  end)

  local function listing(path)
    local status, body = s:api("GET", base .. "/" .. path)
    if status ~= 200 then return nil, status end
    local out = {}
    for _, f in ipairs(body.files) do out[f.path] = f end
    return out, body
  end

  local function download(path)
    local status, _, raw = s:api("POST", base .. "/" .. path .. ":download")
    return status, raw
  end

  it("uploads to the path named by the multipart field, creating folders", function()
    assert.equal(200, (s:upload(pid, "deep/er/data.txt", "0123456789")))
    local l = assert(listing("deep/er"))
    assert.same({ path = "data.txt", is_dir = false, file_size = "10" }, l["data.txt"])
    local top = assert(listing("deep"))
    assert.is_true(top.er.is_dir)
    assert.is_nil(top.er.file_size)
  end)

  it("never overwrites: an occupied path gets name(1).ext, then name(2).ext", function()
    s:upload(pid, "dup/app.py", "v1")
    s:upload(pid, "dup/app.py", "v22")
    s:upload(pid, "dup/app.py", "v333")
    s:upload(pid, "dup/README", "r1")
    s:upload(pid, "dup/README", "r2")
    local l = assert(listing("dup"))
    assert.equal("2", l["app.py"].file_size)
    assert.equal("3", l["app(1).py"].file_size)
    assert.equal("4", l["app(2).py"].file_size)
    assert.is_table(l["README(1)"])
    assert.equal("v1", select(2, download("dup/app.py")))
  end)

  it("lists the root as '', '.', and %2F, with hidden entries", function()
    s:upload(pid, ".local/lib/x", "x")
    for _, spelling in ipairs { "", ".", "%2F" } do
      local l = assert(listing(spelling), spelling)
      assert.is_true(l[".local"].is_dir, spelling)
      assert.is_true(l.deep.is_dir, spelling)
    end
    local l = assert(listing(".local"))
    assert.same({ "lib" }, (function()
      local k = {}
      for n in pairs(l) do k[#k + 1] = n end
      return k
    end)())
  end)

  it("decodes %2F inside a path like /", function()
    local l = assert(listing("deep%2Fer"))
    assert.is_table(l["data.txt"])
  end)

  it("is not paginated", function()
    for i = 1, 15 do s:upload(pid, ("many/f%02d"):format(i), "x") end
    local _, body = listing("many")
    assert.equal(15, #body.files)
    assert.is_nil(body.next_page_token)
  end)

  it("answers 404 for a missing path", function()
    local l, status = listing("no/such/dir")
    assert.is_nil(l)
    assert.equal(404, status)
  end)

  it("downloads raw bytes, binary included", function()
    local bytes = "\0\1\2\255 binary \r\n"
    s:upload(pid, "bin/blob", bytes)
    local status, raw = download("bin/blob")
    assert.equal(200, status)
    assert.equal(bytes, raw)
    assert.equal(404, (download("bin/none")))
    assert.equal(400, (download("bin")))
  end)

  it("deletes a file, and a folder recursively", function()
    s:upload(pid, "trash/a/b.txt", "b")
    s:upload(pid, "trash/c.txt", "c")
    assert.equal(200, (s:api("DELETE", base .. "/trash/c.txt")))
    assert.is_nil(assert(listing("trash"))["c.txt"])
    assert.equal(200, (s:api("DELETE", base .. "/trash")))
    assert.equal(404, select(2, listing("trash")))
    assert.equal(404, (s:api("DELETE", base .. "/trash")))
  end)

  it("renames with PATCH {path = new}", function()
    s:upload(pid, "mv/old.txt", "o")
    local status, info = s:api("PATCH", base .. "/mv/old.txt", { path = "mv/sub/new.txt" })
    assert.equal(200, status)
    assert.same({ path = "mv/sub/new.txt", is_dir = false, file_size = "1" }, info)
    assert.equal("o", select(2, download("mv/sub/new.txt")))
    assert.equal(404, (s:api("PATCH", base .. "/mv/old.txt", { path = "x" })))
    s:upload(pid, "mv/taken.txt", "t")
    assert.equal(409, (s:api("PATCH", base .. "/mv/taken.txt", { path = "mv/sub/new.txt" })))
  end)

  it("refuses paths that climb out of the project", function()
    assert.equal(400, (s:api("GET", base .. "/%2E%2E/%2E%2E/etc")))
    assert.equal(400, (s:api("POST", base .. "/a/%2E%2E/%2E%2E/x:download")))
    assert.equal(400, (s:upload(pid, "../escape.txt", "x")))
  end)

  it("wants multipart/form-data for an upload", function()
    local status, body = s:api("POST", base, { path = "x" })
    assert.equal(400, status)
    assert.matches("multipart", body.message)
  end)

  it("answers 404 for files of an unknown project", function()
    assert.equal(404, (s:api("GET", "projects/none-none-none-none/files/")))
  end)
end)
