// Compiles common/seam_probe.inc where it lies, so that its quoted includes
// also search common/ itself, as those of every file of common/ do.
#include "../../common/seam_probe.inc"
