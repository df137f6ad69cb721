# cmake -DPORTOLAN=path -DHELP2MAN=path -DOUT=file -P ManPage.cmake: portolan.1 from
# `portolan --help` (help2man), with each command's --help as its own section, so the man page
# says what --help says and nothing is written by hand.
# The commands, in the order `portolan --help` lists them under "Subcommands:" (so a new
# command gets its section without an edit here).
execute_process(COMMAND ${PORTOLAN} --help OUTPUT_VARIABLE top RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "portolan --help failed (${rc})")
endif()
string(REGEX REPLACE ".*\nSubcommands:\n" "" top "${top}")
string(REGEX MATCHALL "(^|\n)  [a-z][a-z0-9-]* " lines "${top}")
set(commands "")
foreach(l IN LISTS lines)
  string(STRIP "${l}" c)
  list(APPEND commands "${c}")
endforeach()
if(NOT commands)
  message(FATAL_ERROR "portolan --help lists no subcommands")
endif()
set(include "")
foreach(c IN LISTS commands)
  execute_process(COMMAND ${PORTOLAN} ${c} --help OUTPUT_VARIABLE text RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "portolan ${c} --help failed (${rc})")
  endif()
  # roff: a leading '.' or "'" would be a request, and a backslash an escape.
  string(REPLACE "\\" "\\e" text "${text}")
  string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" text "${text}")
  string(APPEND include "[COMMAND: ${c}]\n.nf\n${text}\n.fi\n\n")
endforeach()
get_filename_component(dir ${OUT} DIRECTORY)
file(MAKE_DIRECTORY ${dir})
file(WRITE ${OUT}.include "${include}")
execute_process(
  COMMAND ${HELP2MAN} --no-info --no-discard-stderr
          --name "compile firewall policies to vendor configurations"
          --include ${OUT}.include --output ${OUT}.new ${PORTOLAN}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "help2man failed (${rc})")
endif()
file(RENAME ${OUT}.new ${OUT})
