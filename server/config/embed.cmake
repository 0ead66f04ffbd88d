# Writes OUTPUT, a C++ file defining `const char NAME[]` with the contents
# of INPUT (run as cmake -P).
file(READ ${INPUT} content HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "char(0x\\1)," bytes "${content}")
file(WRITE ${OUTPUT}
  "// Generated from ${INPUT}; do not edit.\n"
  "namespace ${NAMESPACE} {\nextern const char ${NAME}[];\n"
  "const char ${NAME}[] = {${bytes}char(0)};\n}\n")
