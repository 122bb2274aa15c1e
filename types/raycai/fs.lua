---@meta raycai.fs
-- LuaLS definitions of raycai.fs (engine/lfs.c): files and folders.
-- Bad arguments raise; failures of the world return `nil, "<path>: <reason>", errno`.

---@class raycai.fs
local fs = {}

---@alias raycai.fs.Mode integer|string  an integer (`0644`, `tonumber("755", 8)`) or octal digits ("0755")

---@class raycai.fs.Stat
---@field type "file"|"directory"|"link"|"other"
---@field size integer bytes
---@field mode integer permission bits (`& 07777`)
---@field mtime number seconds since the epoch, with fractions

--- The whole content of a file.
---@param path string
---@return string? data
---@return string? err "<path>: <reason>"
---@return integer? errno
function fs.read(path) end

--- Write a file atomically (temporary file in the same folder, fsync, rename, fsync folder).
--- Mode defaults to 0644 and is applied as given (no umask). On failure `path` is untouched.
---@param path string
---@param data string
---@param mode? raycai.fs.Mode
---@return true? ok
---@return string? err
---@return integer? errno
function fs.write(path, data, mode) end

--- Create a folder and its missing parents (`mkdir -p`); mode defaults to 0755.
---@param path string
---@param mode? raycai.fs.Mode
---@return true? ok
---@return string? err
---@return integer? errno
function fs.mkdir(path, mode) end

--- Does path exist (following symbolic links)?
---@param path string
---@return boolean
function fs.exists(path) end

--- Type, size, mode and mtime of path, without following a final symbolic link.
---@param path string
---@return raycai.fs.Stat? st
---@return string? err
---@return integer? errno
function fs.stat(path) end

--- Entry names of a folder sorted bytewise, without "." and "..".
---@param dir string
---@return string[]? names
---@return string? err
---@return integer? errno
function fs.list(dir) end

--- `for name in fs.dir(path) do ... end`: entries in directory order, without "." and "..".
--- Raises when the folder cannot be opened (it is an iterator); closes itself on break.
---@param path string
---@return fun(): string? iterator
function fs.dir(path) end

--- Remove a file or an empty folder; `{ recursive = true }` removes a tree without ever
--- following a symbolic link.
---@param path string
---@param opts? { recursive?: boolean }
---@return true? ok
---@return string? err
---@return integer? errno
function fs.remove(path, opts) end

--- Change the permission bits of path.
---@param path string
---@param mode raycai.fs.Mode
---@return true? ok
---@return string? err
---@return integer? errno
function fs.chmod(path, mode) end

--- Create a new folder (mode 0700) under $TMPDIR or /tmp; prefix defaults to "raycai-".
---@param prefix? string must not contain '/'
---@return string? path
---@return string? err
---@return integer? errno
function fs.tempdir(prefix) end

--- Join path components like Python's os.path.join (a component starting with '/' restarts).
---@param first string
---@param ... string
---@return string
function fs.join(first, ...) end

--- POSIX dirname: "a/b" -> "a", "a" -> ".", "/a" -> "/".
---@param p string
---@return string
function fs.dirname(p) end

--- POSIX basename: "a/b" -> "b", "a/b/" -> "b", "/" -> "/".
---@param p string
---@return string
function fs.basename(p) end

--- An absolute, lexically normalised path: p made absolute against base (default: the
--- current folder), "." and ".." resolved. The disk is not consulted.
---@param p string
---@param base? string
---@return string? path
---@return string? err
---@return integer? errno
function fs.absolute(p, base) end

--- The current folder.
---@return string? path
---@return string? err
---@return integer? errno
function fs.cwd() end

return fs
