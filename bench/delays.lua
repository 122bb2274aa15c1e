-- bench/delays.lua: the cml-sim delays (ms) of the benchmark; bench.lua and trace.lua share them.
return { request = 50, project_create = 50, job_scheduling = 100, job_starting = 100,
         job_running = 3000, app_start = 2000, app_stop = 100, job_stop = 100 }
