# The public headers' comments as Doxygen reads them (doc/Doxyfile.in,
# INPUT_FILTER): the headers keep plain // and /* */ comments, and this makes
# each one the documentation of what follows it, or, trailing a declaration,
# of that declaration. The first comment of a file documents the file.
1s@^// \(.*\)$@/// \1 \\file@
1s@^/\* \(.*\)$@/** \1 \\file@
# Section rules of the C header are not documentation.
/^\/\* -\{4,\}/b
/^\/\/ -\{4,\}/b
/^#/b
s@^\(\s*\)//\(\s\|$\)@\1///\2@
s@^\(\s*\)/\*\(\s\|$\)@\1/**\2@
s@^\(\s*[^[:space:]/*].*[^[:space:]]\s\+\)//\(\s\)@\1///<\2@
s@^\(\s*[^[:space:]/*].*[^[:space:]]\s\+\)/\*\(\s\)@\1/**<\2@
