# tapfail.awk - used by tests/run.sh to repeat the failures at the end of the run, where a
# CI log tail shows them.
# Prints each failed test's TAP block (name, location, error, the top of its stack),
# skipping the parents that only failed because a subtest did.
/^ *not ok [0-9]+ - / {
    inblk = 1; n = 0; ind = match($0, /[^ ]/) - 1; buf[n++] = $0; skip = 0; stack = 0; next
}
inblk {
    if ($0 ~ /failureType: 'subtestsFailed'/) skip = 1
    line = $0
    if (substr(line, 1, ind + 5) == sprintf("%*s...", ind + 2, "") && length(line) == ind + 5) {
        if (!skip) { for (i = 0; i < n; i++) print buf[i]; print "" }
        inblk = 0; next
    }
    if (line ~ /^ *stack: /) stack = 1
    else if (stack) { if (++stack > 5) next }
    if (n < 60) buf[n++] = line
}
