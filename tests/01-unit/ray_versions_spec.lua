-- raycai.ray.versions: the default Ray, the Python range per Ray minor, the click constraint.
local versions = require "raycai.ray.versions"
local launcher_text = require "raycai.ray.launcher_text"
local ray = require "raycai.ray"


local function params(version, packages)
  return { ray = { version = version, packages = packages or {} } }
end


describe("raycai.ray.versions", function()
  it("defaults to Ray 2.54.0, a 2.5x release with token authentication", function()
    assert.equal("2.54.0", versions.DEFAULT)
    assert.equal(versions.DEFAULT, ray.params().ray.version.default)
  end)

  it("refuses Ray 2.40 on Python 3.13 and 3.8 and names what works", function()
    local msg = versions.python_problem("2.40.0", "Python 3.13")
    assert.equal("Ray 2.40.0 has no wheels for Python 3.13 (Ray 2.40 supports Python 3.9 to 3.12); "
      .. "set ray.version to a release for that Python (the default 2.54.0 supports Python 3.10 to "
      .. "3.13) or python.kernel to a supported one", msg)
    assert.matches("no wheels for Python 3%.8", versions.python_problem("2.40.0", "Python 3.8"))
    assert.matches("no wheels for Python 3%.9 %(Ray 2%.54 supports Python 3%.10 to 3%.13%)",
                   versions.python_problem("2.54.0", "Python 3.9"))
    assert.matches("no wheels for Python 3%.14", versions.python_problem("2.54.0", "Python 3.14"))
  end)

  it("accepts the kernels in range and does not guess about minors it has no row for", function()
    for _, k in ipairs { "Python 3.9", "Python 3.10", "Python 3.11", "Python 3.12" } do
      assert.is_nil(versions.python_problem("2.40.0", k), k)
    end
    assert.is_nil(versions.python_problem("2.54.0", "Python 3.13"))
    assert.is_nil(versions.python_problem("2.43.0", "Python 3.13"))  -- not in the table
    assert.is_nil(versions.python_problem("3.0.0.dev0", "Python 3.14"))
    assert.is_nil(versions.python_problem("2.40.0", "R 4.3"))
  end)

  it("adds click<8.3 for Ray before 2.53 only, and not when the recipe names click", function()
    assert.same({ "ray[default]==2.40.0", "torch", "click<8.3" },
                launcher_text.packages(params("2.40.0", { "torch" })))
    assert.same({ "ray[default]==2.52.1", "click<8.3" }, launcher_text.packages(params("2.52.1")))
    assert.same({ "ray[default]==2.53.0" }, launcher_text.packages(params("2.53.0")))
    assert.same({ "ray[default]==2.54.0" }, launcher_text.packages(params("2.54.0")))
    assert.same({ "ray[default]==2.40.0", "Click==8.2.1" },
                launcher_text.packages(params("2.40.0", { "Click==8.2.1" })))
  end)
end)
