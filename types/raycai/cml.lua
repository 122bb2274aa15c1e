---@meta raycai.cml
-- LuaLS definitions of raycai.cml (lua/raycai/cml/init.lua): the Cloudera AI (CML) REST API v2
-- client. In a step: `local client = ctx:client()`. Methods take path ids as arguments and
-- bodies as tables shaped like the API's definitions; they return the decoded JSON response,
-- or `nil, err` with err a raycai.cml.Error (tostring(err) is one line).

---@class raycai.cml
---@field errors raycai.cml.errors
---@field PAGE_SIZE integer raycai's page size for every list it walks (100)
local cml = {}

---@class raycai.cml.Options
---@field host string workspace URL (https:// is assumed when no scheme is given)
---@field api_key string
---@field ca_bundle? string PEM file of the certificate authorities to trust
---@field insecure? boolean do not verify TLS certificates
---@field timeout? number seconds per request (default 30)
---@field retries? integer attempts of a retryable request (default 5)
---@field deadline? number seconds one call may take with its retries (default 120)
---@field log? fun(msg: string)
---@field warn? fun(msg: string)
---@field max_body? integer

---@class raycai.cml.Error
---@field kind "http"|"timeout"|"connect"|"dropped"|"tls"|"too_large"|"interrupted"|"transport"|"malformed"|"conflict"
---@field message string
---@field method string
---@field path string
---@field status? integer HTTP status (kind "http")
---@field code? integer gRPC code of the response body
---@field code_name? string e.g. "NOT_FOUND"
---@field retryable? boolean
---@field attempts? integer
---@field curl_code? integer

---@class raycai.cml.errors
---@field GRPC table<integer, string> gRPC code names by number
local errors = {}

--- Is v an error object of the CML client?
---@param v any
---@return boolean
function errors.is(v) end

--- Error for an HTTP response with status >= 400.
---@param method string
---@param path string
---@param status integer
---@param body table? decoded JSON body
---@param retryable boolean
---@return raycai.cml.Error
function errors.http(method, path, status, body, retryable) end

--- Error for a raycai.http transport failure.
---@param method string
---@param path string
---@param terr raycai.http.Error
---@param timeout number the request's timeout in seconds
---@param retryable boolean
---@return raycai.cml.Error
function errors.transport(method, path, terr, timeout, retryable) end

--- Any other failure of a call ("malformed", "interrupted", "conflict", ...).
---@param kind string
---@param method string
---@param path string
---@param message string
---@return raycai.cml.Error
function errors.other(kind, method, path, message) end

--- Options of the list methods.
---@class raycai.cml.ListOpts
---@field search_filter? table|string e.g. { name = "raycai-gpu-head" } (matches substrings)
---@field sort? string
---@field page_size? integer
---@field page_token? string
---@field include_public_projects? boolean list_projects only
---@field include_all_projects? boolean list_projects only

---@alias raycai.cml.ListName "list_projects"|"list_runtimes"|"list_jobs"|"list_job_runs"|"list_applications"

--- One result of a batch call: `{ object }` or `{ nil, err }`.
---@alias raycai.cml.Result { [1]: table?, [2]: raycai.cml.Error? }

---@class raycai.cml.Client
---@field base string the workspace URL
local Client = {}

--- Build a client.
---@param opts raycai.cml.Options
---@return raycai.cml.Client? client
---@return string? err
function cml.client(opts) end

--- Is this host name the loopback interface (127.0.0.0/8, localhost, ::1)? cml.client allows
--- http:// only to these (or with insecure).
---@param name string?
---@return boolean
function cml.is_loopback(name) end

--- Client options from the environment: CML_HOST, CML_API_KEY or CML_API_KEY_FILE, CML_CA_BUNDLE.
---@param getenv? fun(name: string): string?
---@return { host: string, api_key: string, ca_bundle: string? }? opts
---@return string? err naming the variable to set
function cml.config_from_env(getenv) end

--- Close the connections (idempotent).
function Client:close() end

--- Check the API key.
---@return table? res
---@return raycai.cml.Error? err
function Client:validate_key() end

--- A page of projects: { projects = {...}, next_page_token = "..." }.
---@param opts? raycai.cml.ListOpts
---@return table? page
---@return raycai.cml.Error? err
function Client:list_projects(opts) end

---@param id string project id
---@return table? project
---@return raycai.cml.Error? err
function Client:get_project(id) end

---@param body table e.g. { name = "ray", template = "blank" }
---@return table? project
---@return raycai.cml.Error? err
function Client:create_project(body) end

---@param id string
---@param fields table
---@return table? project
---@return raycai.cml.Error? err
function Client:update_project(id, fields) end

---@param id string
---@return table? res
---@return raycai.cml.Error? err
function Client:delete_project(id) end

--- A page of runtimes: { runtimes = {...}, next_page_token = "..." }.
---@param opts? raycai.cml.ListOpts
---@return table? page
---@return raycai.cml.Error? err
function Client:list_runtimes(opts) end

---@param pid string project id
---@param opts? raycai.cml.ListOpts
---@return table? page { jobs = {...}, next_page_token = "..." }
---@return raycai.cml.Error? err
function Client:list_jobs(pid, opts) end

---@param pid string
---@param body table
---@return table? job
---@return raycai.cml.Error? err
function Client:create_job(pid, body) end

---@param pid string
---@param id string
---@return table? job
---@return raycai.cml.Error? err
function Client:get_job(pid, id) end

---@param pid string
---@param id string
---@param fields table
---@return table? job
---@return raycai.cml.Error? err
function Client:update_job(pid, id, fields) end

---@param pid string
---@param id string
---@return table? res
---@return raycai.cml.Error? err
function Client:delete_job(pid, id) end

--- Start a run of a job (never two runs after an ambiguous failure).
---@param pid string
---@param job_id string
---@param body? table
---@param opts? { no_runs?: boolean } no_runs: the job has no runs (just created), skip noting them
---@return table? run
---@return raycai.cml.Error? err
function Client:create_job_run(pid, job_id, body, opts) end

---@param pid string
---@param job_id string
---@param run_id string
---@return table? run
---@return raycai.cml.Error? err
function Client:get_job_run(pid, job_id, run_id) end

---@param pid string
---@param job_id string
---@param opts? raycai.cml.ListOpts
---@return table? page { job_runs = {...}, next_page_token = "..." }
---@return raycai.cml.Error? err
function Client:list_job_runs(pid, job_id, opts) end

---@param pid string
---@param job_id string
---@param run_id string
---@return table? run
---@return raycai.cml.Error? err
function Client:stop_job_run(pid, job_id, run_id) end

---@param pid string
---@param opts? raycai.cml.ListOpts
---@return table? page { applications = {...}, next_page_token = "..." }
---@return raycai.cml.Error? err
function Client:list_applications(pid, opts) end

---@param pid string
---@param body table name, subdomain, script, runtime_identifier, cpu, memory, nvidia_gpu, environment, ...
---@return table? application
---@return raycai.cml.Error? err
function Client:create_application(pid, body) end

---@param pid string
---@param id string
---@return table? application
---@return raycai.cml.Error? err
function Client:get_application(pid, id) end

---@param pid string
---@param id string
---@param fields table
---@return table? application
---@return raycai.cml.Error? err
function Client:update_application(pid, id, fields) end

---@param pid string
---@param id string
---@return table? res
---@return raycai.cml.Error? err
function Client:delete_application(pid, id) end

---@param pid string
---@param id string
---@return table? application
---@return raycai.cml.Error? err
function Client:stop_application(pid, id) end

---@param pid string
---@param id string
---@return table? application
---@return raycai.cml.Error? err
function Client:restart_application(pid, id) end

--- Create many applications concurrently.
---@param pid string
---@param bodies table[]
---@param opts? { parallel?: integer }
---@return raycai.cml.Result[] results in the order of bodies
function Client:create_applications(pid, bodies, opts) end

--- Delete many applications concurrently.
---@param pid string
---@param ids string[]
---@param opts? { parallel?: integer }
---@return raycai.cml.Result[] results in the order of ids
function Client:delete_applications(pid, ids, opts) end

--- Run functions side by side; the requests they make go out together.
---@param ... fun(): ...
---@return table[] results each function's results, packed ({ n = count, ... }), in order
function Client:together(...) end

--- List a project folder (relative to /home/cdsw; "" for the root): { files = {...} }.
---@param pid string
---@param path string
---@return table? res
---@return raycai.cml.Error? err
function Client:list_files(pid, path) end

--- Upload data to dest_path (relative to /home/cdsw). CML never overwrites: an occupied path
--- makes "name(1).ext".
---@param pid string
---@param dest_path string
---@param data string
---@return table? res
---@return raycai.cml.Error? err
function Client:upload_file(pid, dest_path, data) end

--- The bytes of a project file.
---@param pid string
---@param path string
---@return string? data
---@return raycai.cml.Error? err
function Client:download_file(pid, path) end

---@param pid string
---@param path string
---@return table? res
---@return raycai.cml.Error? err
function Client:delete_file(pid, path) end

--- Iterate the pages of a list: `for page, err in client:pages("list_applications", pid) do`.
--- A failure yields `false, err`.
---@param name raycai.cml.ListName
---@param ... any the list method's arguments (path ids, then raycai.cml.ListOpts)
---@return fun(): (table|false)?, raycai.cml.Error?
function Client:pages(name, ...) end

--- Iterate every item of every page: `for item, err in client:each("list_jobs", pid) do`.
--- A failure yields `false, err`.
---@param name raycai.cml.ListName
---@param ... any
---@return fun(): (table|false)?, raycai.cml.Error?
function Client:each(name, ...) end

--- Every item of a list as one array.
---@param name raycai.cml.ListName
---@param ... any
---@return table[]? items
---@return raycai.cml.Error? err
function Client:all(name, ...) end

--- Every item of a list, all pages of cml.PAGE_SIZE: `client:list_all("list_jobs", { pid },
--- { search_filter = { name = prefix } })`.
---@param name raycai.cml.ListName
---@param args any[] the list's path ids
---@param opts? table list options (search_filter, sort, ...)
---@return table[]|nil items
---@return raycai.cml.Error? err
function Client:list_all(name, args, opts) end

--- The item of a list named exactly `wanted` (the API's name filter matches substrings), or
--- false when there is none.
---@param name raycai.cml.ListName
---@param args any[] the list's path ids
---@param wanted string
---@return table|false|nil item
---@return raycai.cml.Error? err
function Client:find_named(name, args, wanted) end

return cml
