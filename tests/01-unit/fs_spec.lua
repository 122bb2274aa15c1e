-- raycai.fs: files, folders and path strings.
local fs = require "raycai.fs"


-- A fresh private folder per test, removed afterwards.
local root

local function path(...)
  return fs.join(root, ...)
end


describe("raycai.fs", function()
  before_each(function()
    root = assert(fs.tempdir("fs-spec-"))
  end)

  after_each(function()
    if root and fs.exists(root) then
      assert(fs.remove(root, { recursive = true }))
    end
  end)

  describe("read() and write()", function()
    it("writes a file and reads the same bytes back", function()
      local data = "line 1\n\0binary\255\r\n"
      assert.is_true(fs.write(path("f"), data))
      assert.equal(data, fs.read(path("f")))
    end)

    it("reads a file larger than one buffer", function()
      local data = string.rep("0123456789abcdef", 20000)
      assert(fs.write(path("big"), data))
      assert.equal(data, fs.read(path("big")))
    end)

    it("replaces the content of an existing file", function()
      assert(fs.write(path("f"), "old content that is longer"))
      assert(fs.write(path("f"), "new"))
      assert.equal("new", fs.read(path("f")))
    end)

    it("applies mode 0644 by default", function()
      assert(fs.write(path("f"), "x"))
      assert.equal(tonumber("644", 8), fs.stat(path("f")).mode)
    end)

    it("applies a mode given as an integer or as an octal string", function()
      assert(fs.write(path("a"), "x", tonumber("755", 8)))
      assert(fs.write(path("b"), "x", "0600"))
      assert.equal(tonumber("755", 8), fs.stat(path("a")).mode)
      assert.equal(tonumber("600", 8), fs.stat(path("b")).mode)
    end)

    it("changes the mode of a file it replaces", function()
      assert(fs.write(path("f"), "x", "0600"))
      assert(fs.write(path("f"), "y", "0750"))
      assert.equal(tonumber("750", 8), fs.stat(path("f")).mode)
    end)

    it("leaves no temporary file behind", function()
      assert(fs.write(path("f"), "one"))
      assert(fs.write(path("f"), "two"))
      assert.same({ "f" }, fs.list(root))
    end)

    it("leaves no temporary file behind when the rename fails", function()
      assert(fs.mkdir(path("d")))
      assert(fs.write(path("d", "inside"), "x"))
      local ok, err, code = fs.write(path("d"), "data")
      assert.is_nil(ok)
      assert.equal(path("d") .. ": Is a directory", err)
      assert.is_number(code)
      assert.same({ "d" }, fs.list(root))
    end)

    it("writes a file given by a relative name", function()
      local cwd = fs.cwd()
      -- no chdir in Lua: write relative to the current folder and clean up at once
      local name = "fs-spec-relative-" .. tostring(os.time()) .. ".tmp"
      assert(fs.write(name, "rel"))
      assert.equal("rel", fs.read(fs.join(cwd, name)))
      assert(fs.remove(name))
    end)

    it("returns nil, a message naming the path and errno when reading a missing file", function()
      local ok, err, code = fs.read(path("missing"))
      assert.is_nil(ok)
      assert.equal(path("missing") .. ": No such file or directory", err)
      assert.equal(2, code)
    end)

    it("returns nil and a message naming the path when reading a folder", function()
      local ok, err = fs.read(root)
      assert.is_nil(ok)
      assert.equal(root .. ": Is a directory", err)
    end)

    it("returns nil and a message naming the path when the folder does not exist", function()
      local ok, err = fs.write(path("no", "such", "f"), "x")
      assert.is_nil(ok)
      assert.equal(path("no", "such", "f") .. ": No such file or directory", err)
    end)

    it("raises on a bad mode", function()
      assert.has_error(function() fs.write(path("f"), "x", "0999") end)
      assert.has_error(function() fs.write(path("f"), "x", -1) end)
      assert.has_error(function() fs.write(path("f"), "x", 1.5) end)
      assert.is_false(fs.exists(path("f")))
    end)

    it("raises when data is not a string", function()
      assert.has_error(function() fs.write(path("f"), {}) end)
    end)
  end)

  describe("mkdir()", function()
    it("creates missing parents", function()
      assert.is_true(fs.mkdir(path("a", "b", "c")))
      assert.equal("directory", fs.stat(path("a", "b", "c")).type)
    end)

    it("succeeds when the folder already exists", function()
      assert(fs.mkdir(path("a")))
      assert.is_true(fs.mkdir(path("a")))
      assert.is_true(fs.mkdir(path("a") .. "/"))
    end)

    it("applies the mode to the folders it creates", function()
      assert(fs.mkdir(path("m"), "0700"))
      assert.equal(tonumber("700", 8), fs.stat(path("m")).mode)
    end)

    it("fails, naming the culprit, when a file is in the way", function()
      assert(fs.write(path("f"), "x"))
      local ok, err = fs.mkdir(path("f", "sub"))
      assert.is_nil(ok)
      assert.equal(path("f") .. ": Not a directory", err)
    end)
  end)

  describe("exists() and stat()", function()
    it("tells files and folders from missing paths", function()
      assert(fs.write(path("f"), "x"))
      assert.is_true(fs.exists(path("f")))
      assert.is_true(fs.exists(root))
      assert.is_false(fs.exists(path("missing")))
    end)

    it("reports type, size, mode and mtime of a file", function()
      local before = os.time()
      assert(fs.write(path("f"), "12345", "0640"))
      local st = fs.stat(path("f"))
      assert.equal("file", st.type)
      assert.equal(5, st.size)
      assert.equal(tonumber("640", 8), st.mode)
      assert.is_true(st.mtime >= before - 1 and st.mtime <= os.time() + 1)
    end)

    it("reports a folder and a symbolic link without following it", function()
      assert(fs.mkdir(path("d")))
      assert(os.execute("ln -s d " .. path("l")))
      assert.equal("directory", fs.stat(path("d")).type)
      assert.equal("link", fs.stat(path("l")).type)
    end)

    it("returns nil and a message naming the path for a missing path", function()
      assert.same({ nil, path("nope") .. ": No such file or directory", 2 }, { fs.stat(path("nope")) })
    end)
  end)

  describe("list() and dir()", function()
    it("lists names sorted, without . and ..", function()
      for _, n in ipairs { "b", "a", "C", "a.txt" } do
        assert(fs.write(path(n), n))
      end
      assert(fs.mkdir(path("dir")))
      assert.same({ "C", "a", "a.txt", "b", "dir" }, fs.list(root))
    end)

    it("lists an empty folder as an empty array", function()
      assert.same({}, fs.list(root))
    end)

    it("fails with a message naming the folder", function()
      local ok, err = fs.list(path("missing"))
      assert.is_nil(ok)
      assert.equal(path("missing") .. ": No such file or directory", err)
    end)

    it("iterates over the same names with dir()", function()
      for _, n in ipairs { "x", "y", "z" } do
        assert(fs.write(path(n), n))
      end
      local seen = {}
      for name in fs.dir(root) do
        seen[#seen + 1] = name
      end
      table.sort(seen)
      assert.same({ "x", "y", "z" }, seen)
    end)

    it("closes the dir() stream on break", function()
      assert(fs.write(path("x"), "x"))
      assert(fs.write(path("y"), "y"))
      local iter, stream, init, closing = fs.dir(root)
      local seen = 0
      for name in iter, stream, init, closing do
        seen = seen + 1
        if name then break end
      end
      assert.equal(1, seen)
      assert.has_error(function() iter(stream) end)
    end)

    it("keeps the dir() stream open without break until the end", function()
      assert(fs.write(path("x"), "x"))
      local iter, stream = fs.dir(root)
      assert.equal("x", iter(stream))
      assert.is_nil(iter(stream))
      assert.has_error(function() iter(stream) end)
    end)

    it("raises from dir() when the folder cannot be opened", function()
      assert.has_error(function() fs.dir(path("missing")) end,
        path("missing") .. ": No such file or directory")
    end)
  end)

  describe("remove()", function()
    it("removes a file", function()
      assert(fs.write(path("f"), "x"))
      assert.is_true(fs.remove(path("f")))
      assert.is_false(fs.exists(path("f")))
    end)

    it("removes an empty folder", function()
      assert(fs.mkdir(path("d")))
      assert.is_true(fs.remove(path("d")))
      assert.is_false(fs.exists(path("d")))
    end)

    it("refuses a non-empty folder without recursive", function()
      assert(fs.mkdir(path("d")))
      assert(fs.write(path("d", "f"), "x"))
      local ok, err = fs.remove(path("d"))
      assert.is_nil(ok)
      assert.equal(path("d") .. ": Directory not empty", err)
      assert.is_true(fs.exists(path("d", "f")))
    end)

    it("removes a tree with recursive", function()
      assert(fs.mkdir(path("d", "a", "b")))
      assert(fs.write(path("d", "a", "b", "f"), "x"))
      assert(fs.write(path("d", "g"), "x"))
      assert(fs.mkdir(path("d", "empty")))
      assert.is_true(fs.remove(path("d"), { recursive = true }))
      assert.is_false(fs.exists(path("d")))
    end)

    it("does not follow a symbolic link out of the tree", function()
      assert(fs.mkdir(path("outside")))
      assert(fs.write(path("outside", "keep"), "precious"))
      assert(fs.mkdir(path("tree", "sub")))
      assert(os.execute("ln -s " .. path("outside") .. " " .. path("tree", "sub", "link")))
      assert(os.execute("ln -s " .. path("outside", "keep") .. " " .. path("tree", "filelink")))
      assert.is_true(fs.remove(path("tree"), { recursive = true }))
      assert.is_false(fs.exists(path("tree")))
      assert.equal("precious", fs.read(path("outside", "keep")))
    end)

    it("removes a symbolic link to a folder, not the folder", function()
      assert(fs.mkdir(path("target")))
      assert(fs.write(path("target", "f"), "x"))
      assert(os.execute("ln -s target " .. path("l")))
      assert.is_true(fs.remove(path("l"), { recursive = true }))
      assert.equal("x", fs.read(path("target", "f")))
    end)

    it("fails with a message naming a missing path", function()
      local ok, err = fs.remove(path("missing"))
      assert.is_nil(ok)
      assert.equal(path("missing") .. ": No such file or directory", err)
    end)
  end)

  describe("chmod()", function()
    it("changes the mode", function()
      assert(fs.write(path("f"), "x"))
      assert.is_true(fs.chmod(path("f"), "0751"))
      assert.equal(tonumber("751", 8), fs.stat(path("f")).mode)
      assert.is_true(fs.chmod(path("f"), tonumber("600", 8)))
      assert.equal(tonumber("600", 8), fs.stat(path("f")).mode)
    end)

    it("fails with a message naming the path", function()
      local ok, err = fs.chmod(path("missing"), "0644")
      assert.is_nil(ok)
      assert.equal(path("missing") .. ": No such file or directory", err)
    end)

    it("raises without a mode", function()
      assert.has_error(function() fs.chmod(path("f")) end)
    end)
  end)

  describe("tempdir()", function()
    it("creates a new private folder with the prefix", function()
      local d = assert(fs.tempdir("pfx-"))
      local st = fs.stat(d)
      assert.equal("directory", st.type)
      assert.equal(tonumber("700", 8), st.mode)
      assert.matches("^pfx%-", fs.basename(d))
      assert.not_equal(d, fs.tempdir("pfx-"))
      assert(fs.remove(d))
    end)

    it("raises on a prefix containing a slash", function()
      assert.has_error(function() fs.tempdir("a/b") end)
    end)
  end)

  describe("path strings", function()
    it("joins components with single slashes", function()
      assert.equal("a/b/c", fs.join("a", "b", "c"))
      assert.equal("a/b/c", fs.join("a/", "b", "c"))
      assert.equal("a", fs.join("a"))
      assert.equal("/x/y", fs.join("a", "/x", "y"))
    end)

    it("takes dirname and basename like POSIX", function()
      assert.equal("a/b", fs.dirname("a/b/c"))
      assert.equal("a", fs.dirname("a/b/"))
      assert.equal(".", fs.dirname("a"))
      assert.equal("/", fs.dirname("/a"))
      assert.equal("/", fs.dirname("/"))
      assert.equal("c", fs.basename("a/b/c"))
      assert.equal("b", fs.basename("a/b/"))
      assert.equal("/", fs.basename("/"))
      assert.equal("f.txt", fs.basename("f.txt"))
    end)

    it("normalises absolute paths lexically", function()
      assert.equal("/a/c", fs.absolute("/a/b/../c"))
      assert.equal("/a/b", fs.absolute("/a/./b/"))
      assert.equal("/a/b", fs.absolute("//a//b//"))
      assert.equal("/", fs.absolute("/../.."))
      assert.equal("/", fs.absolute("/a/.."))
    end)

    it("makes relative paths absolute against a base", function()
      assert.equal("/base/x/y", fs.absolute("x/y", "/base"))
      assert.equal("/x", fs.absolute("../x", "/base"))
      assert.equal("/base", fs.absolute(".", "/base/"))
      assert.equal("/abs", fs.absolute("/abs", "/base"))
    end)

    it("makes relative paths absolute against the current folder", function()
      local cwd = fs.cwd()
      assert.equal(cwd .. "/x", fs.absolute("x"))
      assert.equal(fs.dirname(cwd), fs.absolute(".."))
      assert.equal(cwd .. "/b/x", fs.absolute("x", "b"))
    end)

    it("does not touch the disk", function()
      assert.equal("/no/such/place", fs.absolute("/no/such/thing/../place"))
    end)

    it("returns the current folder, absolute", function()
      local cwd = fs.cwd()
      assert.matches("^/", cwd)
      assert.equal("directory", fs.stat(cwd).type)
    end)
  end)
end)
