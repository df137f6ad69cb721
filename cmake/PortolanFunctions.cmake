# portolan_add_policy(NAME MANIFEST m OUT dir [TARGETS t...])
#
# Builds the configs of a Portolan manifest as part of a CMake project: a custom command runs
# `portolan build --manifest m --out dir [--target t]... --depfile ... --stamp ...` and a target
# NAME (part of ALL) depends on it. The depfile Portolan writes names the manifest, every policy
# and every import it read, so the command reruns when one of them changes, and only then; files
# whose bytes did not change keep their mtime. The files the build writes are the command's
# BYPRODUCTS, listed at configure time with `portolan build --list-outputs` (the manifest is a
# configure dependency, so a new target re-runs CMake), and are given back in NAME_OUTPUTS.
# MANIFEST is relative to the current source folder, OUT to the current binary folder.
# Needs CMake >= 3.20 (DEPFILE with Ninja and Makefiles). See docs/ci.md.
if(CMAKE_VERSION VERSION_LESS 3.20)
  message(FATAL_ERROR "portolan_add_policy needs CMake 3.20 or newer (DEPFILE), not ${CMAKE_VERSION}")
endif()

# The function records the policy settings of its definition: DEPFILE paths per CMP0116 (NEW:
# relative paths in the depfile are relative to the binary folder; Portolan is given absolute
# paths, so it writes absolute ones either way).
cmake_policy(PUSH)
cmake_policy(VERSION 3.20)

function(portolan_add_policy NAME)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "MANIFEST;OUT" "TARGETS")
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "portolan_add_policy(${NAME}): unknown arguments ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT ARG_MANIFEST OR NOT ARG_OUT)
    message(FATAL_ERROR "portolan_add_policy(${NAME}): MANIFEST and OUT are required")
  endif()
  get_filename_component(manifest "${ARG_MANIFEST}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
  get_filename_component(out "${ARG_OUT}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_BINARY_DIR}")
  set(stamp "${CMAKE_CURRENT_BINARY_DIR}/${NAME}.portolan-stamp")
  set(depfile "${CMAKE_CURRENT_BINARY_DIR}/${NAME}.portolan.d")
  set(target_args "")
  foreach(t IN LISTS ARG_TARGETS)
    list(APPEND target_args --target "${t}")
  endforeach()

  execute_process(
    COMMAND "${PORTOLAN_EXECUTABLE}" build --manifest "${manifest}" --out "${out}" ${target_args}
            --list-outputs --absolute
    RESULT_VARIABLE rc OUTPUT_VARIABLE listed ERROR_VARIABLE why)
  set(outputs "")
  if(rc EQUAL 0)
    string(REGEX REPLACE "\n$" "" listed "${listed}")
    if(NOT listed STREQUAL "")
      string(REPLACE "\n" ";" outputs "${listed}")
    endif()
  else()
    message(WARNING "portolan_add_policy(${NAME}): cannot list the outputs of ${manifest} "
                    "(the build step will say why):\n${why}")
  endif()
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${manifest}")

  add_custom_command(
    OUTPUT "${stamp}"
    BYPRODUCTS ${outputs}
    COMMAND Portolan::portolan build --manifest "${manifest}" --out "${out}" ${target_args}
            --depfile "${depfile}" --stamp "${stamp}"
    DEPENDS Portolan::portolan "${manifest}"
    DEPFILE "${depfile}"
    COMMENT "Portolan: building ${NAME} (${manifest})"
    VERBATIM)
  add_custom_target(${NAME} ALL DEPENDS "${stamp}")
  set(${NAME}_OUTPUTS "${outputs}" PARENT_SCOPE)
endfunction()

cmake_policy(POP)
