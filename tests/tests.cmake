# Every tests/**/*_spec.lua is one ctest test, run by busted under lua5.4 with the primitives
# loaded from build/raycai_core.so (see tests/support/helper.lua).
file(GLOB_RECURSE RAYCAI_SPECS CONFIGURE_DEPENDS "${CMAKE_SOURCE_DIR}/tests/*_spec.lua")
foreach(spec IN LISTS RAYCAI_SPECS)
  file(RELATIVE_PATH rel "${CMAKE_SOURCE_DIR}/tests" "${spec}")
  string(REGEX REPLACE "_spec\\.lua$" "" name "${rel}")
  add_test(NAME "${name}"
    COMMAND "${LUA_INTERPRETER}" "${BUSTED}" --helper=tests/support/helper.lua
            --lpath=lua/?.lua --lpath=lua/?/init.lua --lpath=tests/?.lua
            --output=utfTerminal "${spec}")
  set_tests_properties("${name}" PROPERTIES
    WORKING_DIRECTORY "${CMAKE_SOURCE_DIR}"
    ENVIRONMENT "RAYCAI_BUILD_DIR=${CMAKE_BINARY_DIR};RAYCAI_SOURCE_DIR=${CMAKE_SOURCE_DIR};NO_COLOR=1"
    TIMEOUT 300)
  if(RAYCAI_SANITIZE)
    execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so
                    OUTPUT_VARIABLE asan_lib OUTPUT_STRIP_TRAILING_WHITESPACE)
    set_property(TEST "${name}" APPEND PROPERTY ENVIRONMENT
      "LD_PRELOAD=${asan_lib};ASAN_OPTIONS=detect_leaks=0:abort_on_error=1"
      "RAYCAI_CHILD_ASAN_OPTIONS=detect_leaks=1:abort_on_error=1")
  endif()
endforeach()

# Lua style: no globals, no unused values (Debian's lua-check).
find_program(LUACHECK NAMES luacheck)
if(LUACHECK)
  add_test(NAME luacheck COMMAND "${LUACHECK}" --no-color -q lua recipes tests)
  set_tests_properties(luacheck PROPERTIES WORKING_DIRECTORY "${CMAKE_SOURCE_DIR}")
endif()
