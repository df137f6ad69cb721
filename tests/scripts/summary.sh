#!/usr/bin/env bash
# Sourced by check_case.sh and bad_input.sh: `check` text output ends with a summary line
# ("N errors, M warnings, K notes (codes: a 2, b 1)"). check_summary TEXT prints TEXT without
# that line (the findings, as NAME.out/NAME.err hold them) and fails when the line is missing
# or does not count the findings above it: every "file:line:col: severity: ... [code]" line (or
# "portolan: severity: ... [code]"), codes by count, most frequent first, ties by name.
check_summary() {
  local text=$1 last body want
  last=$(printf '%s\n' "$text" | tail -n 1)
  body=$(printf '%s\n' "$text" | sed '$d')
  want=$(printf '%s\n' "$body" | awk '
    /^[^ ].*: (error|warning|note): .*\[[a-z0-9-]+\]$/ {
      match($0, /: (error|warning|note): /); s = substr($0, RSTART + 2, RLENGTH - 4)
      c = $0; sub(/.*\[/, "", c); sub(/\]$/, "", c)
      n[s]++; code[c]++
    }
    function plural(k, w) { return k " " w (k == 1 ? "" : "s") }
    END {
      line = plural(n["error"] + 0, "error") ", " plural(n["warning"] + 0, "warning") ", " \
             plural(n["note"] + 0, "note")
      m = 0; for (c in code) keys[++m] = c
      for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++)
        if (code[keys[j]] > code[keys[i]] || (code[keys[j]] == code[keys[i]] && keys[j] < keys[i])) {
          t = keys[i]; keys[i] = keys[j]; keys[j] = t
        }
      if (m) { line = line " (codes:"; for (i = 1; i <= m; i++) line = line (i > 1 ? "," : "") " " keys[i] " " code[keys[i]]; line = line ")" }
      print line
    }')
  if [ "$last" != "$want" ]; then
    echo "summary: the last line is '$last', expected '$want'" >&2
    return 1
  fi
  printf '%s\n' "$body"
}
