# Installs web/'s packages with `npm ci` when node_modules is missing or package-lock.json has
# changed since the last install (a copy of the lock is kept in node_modules as the stamp).
# --prefer-offline: from the npm cache when it holds the packages, from the registry otherwise.
#   cmake -DWEB_DIR=... -DNPM=... -P web_npm_ci.cmake
set(stamp "${WEB_DIR}/node_modules/.pioneer-package-lock.json")
set(need TRUE)
if(EXISTS "${stamp}")
  file(SHA256 "${WEB_DIR}/package-lock.json" lock_hash)
  file(SHA256 "${stamp}" stamp_hash)
  if(lock_hash STREQUAL stamp_hash)
    set(need FALSE)
  endif()
endif()
if(need)
  message(STATUS "web: npm ci")
  execute_process(COMMAND "${NPM}" ci --prefer-offline --no-audit --no-fund
                  WORKING_DIRECTORY "${WEB_DIR}" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "web: npm ci failed (${rc}); the console needs the npm registry or a filled npm cache, "
                        "or configure with -DPIONEER_WEB=OFF")
  endif()
  file(COPY_FILE "${WEB_DIR}/package-lock.json" "${stamp}")
endif()
