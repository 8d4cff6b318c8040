// Compiles persistence/seam_probe.inc where it lies, so that its quoted
// includes also search persistence/ itself, as those of every file of
// persistence/ do.
#include "../../persistence/seam_probe.inc"
